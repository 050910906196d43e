//! `switchboard admin keys …`: encryption at rest on the database — which data keys seal
//! what, and key rotation. Rotating the master key needs every server stopped.

use super::{ListArgs, Table, find_account, open, print_json};
use crate::settings::ServeArgs;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::collections::BTreeMap;
use std::sync::Arc;
use switchboard_core::audit::{Action, Actor, AuditEvent};
use switchboard_server::vault::master_key::MasterKey;
use switchboard_server::vault::rotation;
use switchboard_store::Store;

#[derive(Debug, Args)]
pub struct KeysArgs {
    #[command(subcommand)]
    command: KeysCommand,
}

#[derive(Debug, Subcommand)]
enum KeysCommand {
    /// Per account: its data key versions, the objects sealed with each, and the objects
    /// still stored plain (the server seals them in the background).
    Status(ListArgs),
    /// Make a new master key and re-wrap every data key with it, in one transaction, without
    /// re-encrypting any object; the previous key is kept as <file>.old (delete it once no
    /// backup made before needs restoring). Stop every server first. With --account: a new
    /// data key version for that account instead; the server moves its objects over in the
    /// background, then deletes the older version.
    Rotate(RotateArgs),
}

#[derive(Debug, Args)]
struct RotateArgs {
    /// Rotate this account's data key (its id, or its exact name) instead of the master key.
    #[arg(long)]
    account: Option<String>,
    #[command(flatten)]
    server: ServeArgs,
}

pub async fn run(args: KeysArgs) -> anyhow::Result<()> {
    match args.command {
        KeysCommand::Status(a) => status(a).await,
        KeysCommand::Rotate(a) => rotate(a).await,
    }
}

/// The master key file the configuration names (or the data directory's), which must exist.
fn master_key(config: &switchboard_server::Config) -> anyhow::Result<MasterKey> {
    let path = config
        .operations
        .master_key_file
        .clone()
        .unwrap_or_else(|| MasterKey::default_path(&config.operations.data_dir));
    MasterKey::read(&path).context("cannot read the master key (see --master-key-file)")
}

async fn rotate(a: RotateArgs) -> anyhow::Result<()> {
    let (config, store) = open(&a.server).await?;
    let master = master_key(&config)?;
    match a.account {
        Some(key) => {
            let account = find_account(store.as_ref(), &key).await?;
            let version = rotation::rotate_account_key(Arc::clone(&store), master, account.id)
                .await
                .context("cannot add a data key version")?;
            crate::audit::record_cli_event(
                &config,
                store.as_ref(),
                AuditEvent::new(Actor::system(), Action::KeysRotated)
                    .account(account.id)
                    .target("account", account.id)
                    .detail(serde_json::json!({ "key": "data", "version": version })),
            )
            .await?;
            println!(
                "account {} ({}) seals new objects with data key version {version}; a running \
                 server moves its older objects over in the background (see `switchboard admin \
                 keys status`), then deletes the older versions",
                account.name, account.id
            );
        }
        None => {
            let done = rotation::rotate_master_key(store.as_ref(), &master)
                .await
                .context("the master key was not rotated")?;
            crate::audit::record_cli_event(
                &config,
                store.as_ref(),
                AuditEvent::new(Actor::system(), Action::KeysRotated)
                    .target("master_key", &done.new_id)
                    .detail(serde_json::json!({
                        "key": "master",
                        "from": done.old_id,
                        "to": done.new_id,
                        "data_keys": done.keys,
                    })),
            )
            .await?;
            println!(
                "master key {} replaced by {} in {}; {} data keys re-wrapped.\n\
                 The previous key is kept in {}: back the new file up, copy it to every node, \
                 and delete the old one once no backup made before now needs restoring.",
                done.old_id,
                done.new_id,
                done.path.display(),
                done.keys,
                done.previous.display()
            );
        }
    }
    Ok(())
}

/// One account's line of `keys status`.
#[derive(Debug, Default, serde::Serialize)]
struct AccountKeys {
    account_id: String,
    account: String,
    /// Data key versions stored, oldest first.
    versions: Vec<u32>,
    /// Objects sealed per version.
    sealed: BTreeMap<u32, Objects>,
    /// Objects stored plain.
    plain: Objects,
}

#[derive(Debug, Default, Clone, Copy, serde::Serialize)]
struct Objects {
    snapshots: u64,
    cell_files: u64,
    taught_objects: u64,
}

async fn status(a: ListArgs) -> anyhow::Result<()> {
    let (_, store) = open(&a.server).await?;
    let rows = account_keys(store.as_ref()).await?;
    if a.json {
        return print_json(&rows);
    }
    let mut t = Table::new(&[
        "account",
        "versions",
        "sealed (snapshots/files/taught)",
        "plain",
    ]);
    for row in &rows {
        let versions: Vec<String> = row.versions.iter().map(u32::to_string).collect();
        let sealed: Vec<String> = row
            .sealed
            .iter()
            .map(|(v, n)| {
                format!(
                    "v{v}: {}/{}/{}",
                    n.snapshots, n.cell_files, n.taught_objects
                )
            })
            .collect();
        t.row(vec![
            row.account.clone(),
            versions.join(","),
            sealed.join(" "),
            format!(
                "{}/{}/{}",
                row.plain.snapshots, row.plain.cell_files, row.plain.taught_objects
            ),
        ]);
    }
    t.print();
    Ok(())
}

async fn account_keys(store: &dyn Store) -> anyhow::Result<Vec<AccountKeys>> {
    let mut rows: BTreeMap<String, AccountKeys> = BTreeMap::new();
    for account in store.accounts().await? {
        rows.insert(
            account.id.to_string(),
            AccountKeys {
                account_id: account.id.to_string(),
                account: account.name,
                ..AccountKeys::default()
            },
        );
    }
    for key in store.all_data_keys().await? {
        if let Some(row) = rows.get_mut(&key.account_id.to_string()) {
            row.versions.push(key.version);
        }
    }
    for usage in store.key_usage().await? {
        let Some(row) = rows.get_mut(&usage.account_id.to_string()) else {
            continue;
        };
        let objects = Objects {
            snapshots: usage.snapshots,
            cell_files: usage.cell_files,
            taught_objects: usage.taught_objects,
        };
        match usage.key_version {
            Some(version) => {
                row.sealed.insert(version, objects);
            }
            None => row.plain = objects,
        }
    }
    Ok(rows.into_values().collect())
}
