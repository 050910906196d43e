//! `switchboard admin audit`: a stopped node's chain verifies; each of the four kinds of
//! tampering done to a copy of the database is named at the record it was done to; exports
//! give every record once, and are themselves recorded. On SQLite and PostgreSQL.

use crate::support::*;
use reqwest::blocking::Client;
use serde_json::{Value, json};
use sqlx::Connection;
use std::path::Path;
use std::process::Command;
use switchboard_core::audit::{Action, Actor, AuditEvent, AuditRecord, Hash, Link};

const PG: &str = "postgres://postgres@127.0.0.1:5432";

/// Signs up, signs in wrongly and rightly a few times: a dozen records or so.
fn some_records(base: &str) {
    let c = Client::new();
    let api = format!("{base}/api/v1");
    let reg = c
        .post(format!("{api}/auth/register"))
        .json(&json!({"username": "dr.who", "password": "quiet lantern orbit mosaic", "account_name": "Tardis"}))
        .send()
        .unwrap();
    assert!(reg.status().is_success());
    for password in [
        "wrong one",
        "quiet lantern orbit mosaic",
        "quiet lantern orbit mosaic",
    ] {
        c.post(format!("{api}/auth/login"))
            .json(&json!({"username": "dr.who", "password": password}))
            .send()
            .unwrap();
    }
    let token = c
        .post(format!("{api}/auth/login"))
        .json(&json!({"username": "dr.who", "password": "quiet lantern orbit mosaic"}))
        .send()
        .unwrap()
        .json::<Value>()
        .unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned();
    for _ in 0..3 {
        let s = c
            .post(format!("{api}/sessions"))
            .bearer_auth(&token)
            .json(&json!({"label": "Bay 2"}))
            .send()
            .unwrap();
        assert!(s.status().is_success());
    }
}

/// `switchboard admin audit verify --json` on `data` (and `db`, if given): (success, verdicts).
fn verify(data: &Path, db: Option<&str>) -> (bool, Vec<Value>) {
    let mut cmd = Command::new(BIN);
    cmd.args(["admin", "audit", "verify", "--json", "--data-dir"])
        .arg(data)
        .env("RUST_LOG", "warn");
    if let Some(db) = db {
        cmd.args(["--database-url", db]);
    }
    let out = cmd.output().unwrap();
    let verdicts: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "verify printed no JSON ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.success(), verdicts)
}

/// The first problem verify finds, as (kind, record).
fn problem(verdicts: &[Value]) -> Option<(String, u64)> {
    verdicts.iter().find_map(|v| {
        v["problem"].as_object().map(|p| {
            (
                p["kind"].as_str().unwrap().to_owned(),
                p["seq"].as_u64().unwrap(),
            )
        })
    })
}

/// The node whose chain the server wrote (not the CLI's own).
fn server_node(verdicts: &[Value]) -> String {
    verdicts
        .iter()
        .map(|v| v["node"].as_str().unwrap().to_owned())
        .find(|n| !n.ends_with("/cli"))
        .expect("the server's chain")
}

fn copy_dir(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// Runs `statements` on the SQLite database in `data` (the file a copy is made of).
fn tamper(data: &Path, statements: &[String]) {
    block_on(async {
        let url = format!("sqlite:{}", data.join("switchboard.db").display());
        let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
        for sql in statements {
            sqlx::query(sqlx::AssertSqlSafe(sql.clone()))
                .execute(&mut db)
                .await
                .unwrap();
        }
        db.close().await.unwrap();
    });
}

/// The stored hash of record `seq` of `node`.
fn stored_hash(data: &Path, node: &str, seq: u64) -> Hash {
    block_on(async {
        let url = format!("sqlite:{}", data.join("switchboard.db").display());
        let mut db = sqlx::SqliteConnection::connect(&url).await.unwrap();
        let (hash,): (String,) =
            sqlx::query_as("SELECT hash FROM audit_records WHERE node = $1 AND seq = $2")
                .bind(node)
                .bind(i64::try_from(seq).unwrap())
                .fetch_one(&mut db)
                .await
                .unwrap();
        // Closed here, not dropped: a dropped connection closes on its own thread later and
        // removes the WAL files while the test copies the folder.
        db.close().await.unwrap();
        Hash::from_hex(&hash).unwrap()
    })
}

/// SQL that moves records `from..` of `node` one place up, making room at `from`.
fn shift_up(node: &str, from: u64) -> Vec<String> {
    vec![
        format!(
            "UPDATE audit_records SET seq = seq + 1000000 WHERE node = '{node}' AND seq >= {from}"
        ),
        format!(
            "UPDATE audit_records SET seq = seq - 999999 WHERE node = '{node}' AND seq >= 1000000"
        ),
    ]
}

/// A forged record, well formed and linked to record `after`, inserted at `seq`.
fn forged_insert(node: &str, seq: u64, after: Hash) -> String {
    let link = Link {
        seq: seq - 1,
        hash: after,
    };
    let r = AuditRecord::next(
        node,
        &link,
        chrono::Utc::now(),
        AuditEvent::new(Actor::anonymous(), Action::SignIn),
    );
    format!(
        "INSERT INTO audit_records (node, seq, at, actor_kind, action, outcome, detail, prev_hash, hash) \
         VALUES ('{node}', {seq}, {}, 'anonymous', '{}', '{}', '{}', '{}', '{}')",
        r.at.timestamp_millis(),
        r.action,
        r.outcome,
        r.detail,
        r.prev_hash.to_hex(),
        r.hash.to_hex()
    )
}

#[test]
fn a_stopped_nodes_chain_verifies_and_each_kind_of_tampering_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), free_port());
    some_records(&server.base);
    assert!(server.terminate().success());

    let (ok, verdicts) = verify(dir.path(), None);
    assert!(ok, "{verdicts:?}");
    let node = server_node(&verdicts);
    let ours = verdicts
        .iter()
        .find(|v| v["node"] == node.as_str())
        .unwrap();
    assert!(ours["records"].as_u64().unwrap() >= 8, "{ours}");
    assert!(
        ours["checkpoints"].as_u64().unwrap() >= 1,
        "the node signs a checkpoint as it stops: {ours}"
    );

    let second = stored_hash(dir.path(), &node, 2);
    let cases: Vec<(&str, Vec<String>, &str, u64)> = vec![
        (
            "an edited record",
            vec![format!(
                "UPDATE audit_records SET detail = '{{\"reason\":\"nothing to see\"}}' WHERE node = '{node}' AND seq = 3"
            )],
            "edited",
            3,
        ),
        (
            "a deleted record",
            vec![format!(
                "DELETE FROM audit_records WHERE node = '{node}' AND seq = 4"
            )],
            "deleted",
            4,
        ),
        (
            "an inserted record",
            shift_up(&node, 3)
                .into_iter()
                .chain([forged_insert(&node, 3, second)])
                .collect(),
            "inserted",
            3,
        ),
        (
            "two records swapped",
            vec![
                format!("UPDATE audit_records SET seq = 1000000 WHERE node = '{node}' AND seq = 5"),
                format!("UPDATE audit_records SET seq = 5 WHERE node = '{node}' AND seq = 6"),
                format!("UPDATE audit_records SET seq = 6 WHERE node = '{node}' AND seq = 1000000"),
            ],
            "reordered",
            5,
        ),
    ];
    for (what, statements, kind, seq) in cases {
        let copy = tempfile::tempdir().unwrap();
        copy_dir(dir.path(), copy.path());
        tamper(copy.path(), &statements);
        let (ok, verdicts) = verify(copy.path(), None);
        assert!(!ok, "{what} was not noticed: {verdicts:?}");
        assert_eq!(
            problem(&verdicts),
            Some((kind.to_owned(), seq)),
            "{what}: {verdicts:?}"
        );
    }
    // The newest records deleted: the signed checkpoint at the end names what is gone.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    let last = ours["last"].as_u64().unwrap();
    tamper(
        copy.path(),
        &[format!(
            "DELETE FROM audit_records WHERE node = '{node}' AND seq >= {}",
            last - 1
        )],
    );
    let (ok, verdicts) = verify(copy.path(), None);
    assert!(!ok);
    assert_eq!(
        problem(&verdicts),
        Some(("deleted".to_owned(), last - 1)),
        "{verdicts:?}"
    );
    // A checkpoint re-signed by someone else's key is not the node's.
    let copy = tempfile::tempdir().unwrap();
    copy_dir(dir.path(), copy.path());
    tamper(
        copy.path(),
        &[format!(
            "UPDATE audit_checkpoints SET public_key = '{}' WHERE node = '{node}'",
            "ab".repeat(32)
        )],
    );
    let (ok, verdicts) = verify(copy.path(), None);
    assert!(!ok);
    assert_eq!(
        problem(&verdicts).map(|p| p.0),
        Some("bad_checkpoint".to_owned())
    );
}

#[test]
fn exports_give_every_record_once_and_are_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start(dir.path(), free_port());
    some_records(&server.base);
    assert!(server.terminate().success());

    let jsonl = cli_ok(
        dir.path(),
        &["admin", "audit", "export", "--format", "jsonl"],
    );
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 8);
    let mut seen = std::collections::HashSet::new();
    for r in &lines {
        assert!(
            seen.insert((r["node"].clone(), r["seq"].clone())),
            "twice: {r}"
        );
        assert_eq!(r["hash"].as_str().unwrap().len(), 64);
    }
    assert!(
        lines
            .iter()
            .any(|r| r["action"] == "auth.sign_in" && r["outcome"] == "denied")
    );
    // The export itself is on the trail, on this machine's CLI chain, and it verifies.
    let again = cli_ok(
        dir.path(),
        &[
            "admin",
            "audit",
            "export",
            "--format",
            "csv",
            "--from",
            "2000-01-01",
        ],
    );
    let rows: Vec<&str> = again.lines().collect();
    assert!(rows[0].starts_with("node,seq,at,actor_kind"), "{again}");
    assert!(rows.iter().any(|r| r.contains("audit.exported")), "{again}");
    assert_eq!(
        rows.len(),
        lines.len() + 2,
        "header, every record, the first export"
    );
    let none = cli_ok(
        dir.path(),
        &["admin", "audit", "export", "--to", "2000-01-01"],
    );
    assert!(none.is_empty(), "{none}");
    let (ok, verdicts) = verify(dir.path(), None);
    assert!(ok, "{verdicts:?}");
    assert!(
        verdicts
            .iter()
            .any(|v| v["node"].as_str().unwrap().ends_with("/cli"))
    );
    let keys = cli_ok(dir.path(), &["admin", "audit", "keys"]);
    assert!(keys.contains("this machine"), "{keys}");
    let bad = cli(
        dir.path(),
        &[
            "admin",
            "audit",
            "export",
            "--from",
            "2001-01-01",
            "--to",
            "2000-01-01",
        ],
        None,
    );
    assert!(!bad.status.success());
}

#[test]
fn verify_works_on_postgresql() {
    let name = format!("sb_audit_{}", uuid::Uuid::new_v4().simple());
    let made = block_on(async {
        let mut conn = sqlx::PgConnection::connect(&format!("{PG}/postgres")).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        conn.close().await
    });
    if let Err(e) = made {
        assert!(
            std::env::var_os("CI").is_none(),
            "PostgreSQL is required in CI: {e}"
        );
        eprintln!("SKIPPED: PostgreSQL unreachable: {e}");
        return;
    }
    let db = format!("{PG}/{name}");
    let dir = tempfile::tempdir().unwrap();
    let server = ServerProcess::start_with(
        dir.path(),
        free_port(),
        &["--database-url".as_ref(), db.as_ref()],
    );
    some_records(&server.base);
    assert!(server.terminate().success());
    let (ok, verdicts) = verify(dir.path(), Some(&db));
    assert!(ok, "{verdicts:?}");
    let node = server_node(&verdicts);
    block_on(async {
        let mut conn = sqlx::PgConnection::connect(&db).await.unwrap();
        sqlx::query(
            "UPDATE audit_records SET outcome = 'ok' WHERE node = $1 AND outcome = 'denied'",
        )
        .bind(&node)
        .execute(&mut conn)
        .await
        .unwrap();
        conn.close().await.unwrap();
    });
    let (ok, verdicts) = verify(dir.path(), Some(&db));
    assert!(!ok);
    assert_eq!(
        problem(&verdicts).map(|p| p.0),
        Some("edited".to_owned()),
        "{verdicts:?}"
    );
}
