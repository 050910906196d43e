//! `switchboard admin audit …`: checks every node's audit chain, exports records, and shows
//! the keys that sign checkpoints. Works on the database directly, with or without a running
//! server, on SQLite and PostgreSQL.

use crate::formats::{csv_field, parse_time};
use crate::settings::ServeArgs;
use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;
use std::sync::Arc;
use switchboard_core::AccountId;
use switchboard_core::audit::checkpoint::key_fingerprint;
use switchboard_core::audit::{
    Action, Actor, AuditEvent, AuditRecord, Checkpoint, CheckpointKind, Link, hex_decode,
    hex_encode,
};
use switchboard_server::services::audit::{NodeKey, chain_check};
use switchboard_store::{Store, StoreError};

/// Records read from the database at a time.
const PAGE: u32 = 10_000;

#[derive(Debug, Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    command: AuditCommand,
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Check every node's chain and checkpoints; name the first record that was edited,
    /// deleted, inserted or reordered. Exits with status 1 if any chain does not hold.
    Verify(VerifyArgs),
    /// Write the records of [from, to) as JSON Lines or CSV, each node's chain in order, with
    /// their hashes (so the export can be checked again). The export itself is recorded.
    Export(ExportArgs),
    /// The public keys each node signs checkpoints with. Keep a copy of them elsewhere:
    /// `verify --trust-key` checks against that copy.
    Keys(KeysArgs),
}

#[derive(Debug, Args)]
struct VerifyArgs {
    /// Also trust this public key (64 hex digits), e.g. a node's key before its data folder
    /// was replaced. Repeatable.
    #[arg(long = "trust-key", value_name = "HEX")]
    trust: Vec<String>,
    /// Print JSON instead of lines.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServeArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Format {
    Jsonl,
    Csv,
}

#[derive(Debug, Args)]
struct ExportArgs {
    /// Start (inclusive): RFC 3339 time or a date (YYYY-MM-DD, UTC). Default: the beginning.
    #[arg(long)]
    from: Option<String>,
    /// End (exclusive): RFC 3339 time or a date (YYYY-MM-DD, UTC). Default: now.
    #[arg(long)]
    to: Option<String>,
    /// Only this account's records (its id).
    #[arg(long)]
    account: Option<AccountId>,
    #[arg(long, value_enum, default_value = "jsonl")]
    format: Format,
    /// Write here instead of standard output.
    #[arg(long)]
    output: Option<std::path::PathBuf>,
    #[command(flatten)]
    server: ServeArgs,
}

#[derive(Debug, Args)]
struct KeysArgs {
    #[command(flatten)]
    server: ServeArgs,
}

pub async fn run(args: AuditArgs) -> anyhow::Result<()> {
    match args.command {
        AuditCommand::Verify(a) => verify(a).await,
        AuditCommand::Export(a) => export(a).await,
        AuditCommand::Keys(a) => keys(a).await,
    }
}

async fn open(server: &ServeArgs) -> anyhow::Result<(switchboard_server::Config, Arc<dyn Store>)> {
    let config = server.load()?;
    let store = switchboard_store::connect(&config.database_url())
        .await
        .with_context(|| format!("cannot open the database {}", config.database_url()))?;
    Ok((config, store))
}

/// The public key of this machine's node key, if its file exists (never made here).
fn local_key(config: &switchboard_server::Config) -> anyhow::Result<Option<Vec<u8>>> {
    let path = config
        .audit
        .audit_key_file
        .clone()
        .unwrap_or_else(|| config.operations.data_dir.join("audit-key"));
    if !path.exists() {
        return Ok(None);
    }
    let key = NodeKey::load(Some(&path), &config.operations.data_dir)?;
    Ok(Some(key.public_key().to_vec()))
}

/// A public key given on the command line: 64 hex digits.
fn public_key(text: &str) -> anyhow::Result<Vec<u8>> {
    hex_decode(text)
        .filter(|key| key.len() == 32)
        .context("a public key is 64 hex digits")
}

async fn verify(a: VerifyArgs) -> anyhow::Result<()> {
    let (config, store) = open(&a.server).await?;
    let extra = a
        .trust
        .iter()
        .map(|k| public_key(k))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let node = config.node_name();
    let local = local_key(&config)?.map(|key| (node.as_str(), key));
    let verdicts = chain_check::verify_all(&*store, local, &extra).await?;
    let broken = verdicts.iter().filter(|v| !v.holds()).count();
    if a.json {
        let json: Vec<serde_json::Value> = verdicts
            .iter()
            .map(|v| {
                serde_json::json!({
                    "node": v.node,
                    "holds": v.holds(),
                    "records": v.records,
                    "starts_after": v.starts_after,
                    "last": v.last,
                    "checkpoints": v.checkpoints,
                    "keys": v.keys,
                    "problem": v.problem.as_ref().map(|p| serde_json::json!({
                        "kind": p.kind(),
                        "seq": p.seq(),
                        "message": p.to_string(),
                    })),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        if verdicts.is_empty() {
            println!("no audit chains in this database");
        }
        for v in &verdicts {
            let span = if v.starts_after > 0 {
                format!(
                    "records {}..={} (older ones pruned)",
                    v.starts_after + 1,
                    v.last
                )
            } else {
                format!("records 1..={}", v.last)
            };
            match &v.problem {
                None => println!(
                    "{}: intact: {span}, {} signed checkpoints (keys {})",
                    v.node,
                    v.checkpoints,
                    if v.keys.is_empty() {
                        "none".to_owned()
                    } else {
                        v.keys.join(", ")
                    }
                ),
                Some(p) => println!("{}: TAMPERED: {p}", v.node),
            }
        }
    }
    anyhow::ensure!(broken == 0, "{broken} audit chain(s) do not hold");
    Ok(())
}

async fn export(a: ExportArgs) -> anyhow::Result<()> {
    let (config, store) = open(&a.server).await?;
    let from = a
        .from
        .as_deref()
        .map(parse_time)
        .transpose()?
        .unwrap_or(DateTime::UNIX_EPOCH);
    let to =
        a.to.as_deref()
            .map(parse_time)
            .transpose()?
            .unwrap_or_else(Utc::now);
    anyhow::ensure!(to > from, "--to must be after --from");
    let mut out: Box<dyn Write> = match &a.output {
        Some(path) => Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot write {}", path.display()))?,
        )),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    if matches!(a.format, Format::Csv) {
        writeln!(
            out,
            "node,seq,at,actor_kind,actor_id,account,action,target_kind,target_id,outcome,detail,request_id,client,prev_hash,hash"
        )?;
    }
    let mut written = 0u64;
    for node in store.audit_nodes().await? {
        let mut after = 0;
        loop {
            let page = store.audit_chain(&node, after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for r in page.iter().filter(|r| {
                r.at >= from && r.at < to && a.account.is_none_or(|id| r.account == Some(id))
            }) {
                write_record(&mut out, a.format, r)?;
                written += 1;
            }
        }
    }
    out.flush()?;
    drop(out);
    record_export(&config, &*store, from, to, a.account, written).await?;
    eprintln!("exported {written} audit records");
    Ok(())
}

fn write_record(out: &mut dyn Write, format: Format, r: &AuditRecord) -> anyhow::Result<()> {
    match format {
        Format::Jsonl => {
            let line = serde_json::json!({
                "node": r.node,
                "seq": r.seq,
                "at": r.at,
                "actor": { "kind": r.actor.kind, "id": r.actor.id },
                "account": r.account,
                "action": r.action,
                "target": r.target.as_ref().map(|t| serde_json::json!({ "kind": t.kind, "id": t.id })),
                "outcome": r.outcome,
                "detail": serde_json::from_str::<serde_json::Value>(&r.detail).unwrap_or(serde_json::Value::String(r.detail.clone())),
                "request_id": r.request_id,
                "client": r.client,
                "prev_hash": r.prev_hash.to_hex(),
                "hash": r.hash.to_hex(),
            });
            serde_json::to_writer(&mut *out, &line)?;
            out.write_all(b"\n")?;
        }
        Format::Csv => {
            let fields = [
                r.node.clone(),
                r.seq.to_string(),
                r.at.to_rfc3339(),
                r.actor.kind.as_str().to_owned(),
                r.actor.id.clone().unwrap_or_default(),
                r.account.map(|a| a.to_string()).unwrap_or_default(),
                r.action.clone(),
                r.target
                    .as_ref()
                    .map(|t| t.kind.clone())
                    .unwrap_or_default(),
                r.target.as_ref().map(|t| t.id.clone()).unwrap_or_default(),
                r.outcome.clone(),
                r.detail.clone(),
                r.request_id.clone().unwrap_or_default(),
                r.client.clone().unwrap_or_default(),
                r.prev_hash.to_hex(),
                r.hash.to_hex(),
            ];
            let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
            writeln!(out, "{}", line.join(","))?;
        }
    }
    Ok(())
}

/// Records the export itself on the trail.
async fn record_export(
    config: &switchboard_server::Config,
    store: &dyn Store,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    account: Option<AccountId>,
    records: u64,
) -> anyhow::Result<()> {
    let event = AuditEvent::new(Actor::system(), Action::AuditExported)
        .target("audit", "export")
        .detail(serde_json::json!({
            "from": from,
            "to": to,
            "account": account,
            "records": records,
        }));
    record_cli_event(config, store, event).await
}

/// Appends `event` to this machine's CLI chain (`<node>/cli`), signed with the node's key,
/// so what an admin command changes or reads is on the trail like what the server does. The
/// operating-system user who ran the command is added to its detail.
pub async fn record_cli_event(
    config: &switchboard_server::Config,
    store: &dyn Store,
    mut event: AuditEvent,
) -> anyhow::Result<()> {
    let key = NodeKey::load(
        config.audit.audit_key_file.as_deref(),
        &config.operations.data_dir,
    )?;
    let chain = chain_check::cli_chain(&config.node_name());
    let now = Utc::now();
    store
        .register_audit_key(&chain, key.public_key(), now)
        .await?;
    if let serde_json::Value::Object(detail) = &mut event.detail {
        detail.insert("by".into(), "switchboard admin".into());
        detail.insert(
            "os_user".into(),
            std::env::var("USER").unwrap_or_default().into(),
        );
    }
    // Two commands at once race for the next number: the loser reads the end again.
    for _ in 0..3 {
        let head = store.audit_head(&chain).await?.unwrap_or(Link::GENESIS);
        let record = AuditRecord::next(&chain, &head, now, event.clone());
        match store.append_audit(std::slice::from_ref(&record)).await {
            Ok(()) => {
                let message = Checkpoint::message(
                    &chain,
                    record.seq,
                    &record.hash,
                    now,
                    CheckpointKind::Regular,
                );
                store
                    .add_audit_checkpoint(&Checkpoint {
                        node: chain.clone(),
                        seq: record.seq,
                        hash: record.hash,
                        at: now,
                        kind: CheckpointKind::Regular,
                        public_key: key.public_key().to_vec(),
                        signature: key.sign(&message),
                    })
                    .await?;
                return Ok(());
            }
            Err(StoreError::Conflict(_)) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    anyhow::bail!("could not write to the audit trail")
}

async fn keys(a: KeysArgs) -> anyhow::Result<()> {
    let (config, store) = open(&a.server).await?;
    if let Some(local) = local_key(&config)? {
        println!(
            "this machine ({}): {} ({})",
            config.node_name(),
            key_fingerprint(&local),
            hex_encode(&local)
        );
    }
    for node in store.audit_nodes().await? {
        for key in store.audit_keys(&node).await? {
            println!("{node}: {} ({})", key_fingerprint(&key), hex_encode(&key));
        }
    }
    Ok(())
}
