//! `switchboard admin …`: reads the database directly, so it works with the server stopped.

mod keys;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;

use crate::formats::{csv_field, parse_time};
use crate::settings::ServeArgs;
use bytesize::ByteSize;
use std::sync::Arc;
use switchboard_core::limits::{Limit, LimitOverrides};
use switchboard_core::{Account, AccountId, EndReason, Role, SessionState, Suid, User, UserId};
use switchboard_server::live::CdrLog;
use switchboard_server::protocol::admission::{AccountLimits, LimitView};
use switchboard_server::services::gatekeeper::{Gatekeeper, LIMITS_TTL};
use switchboard_server::services::limits::MIN_BANDWIDTH;
use switchboard_store::{Store, StoreError};

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Nodes and their newest status, open sessions, and ends over the last hour and day.
    Status(ListArgs),
    /// Open sessions of every account.
    Sessions(ListArgs),
    /// End a session now (`ended_by_user`), writing its CDR.
    End(EndArgs),
    /// Every user of every account.
    Users(ListArgs),
    /// Create a user: an account admin, a member, or an operator who sees everything.
    CreateUser(CreateUserArgs),
    /// Export call-detail records of sessions that ended in [from, to).
    Cdr(CdrArgs),
    /// Delete expired token revocations and services stopped long ago.
    Prune(PruneArgs),
    /// An account's limits with what it uses; change its own maximums with --set, --unset
    /// or --clear.
    Limits(LimitsArgs),
    /// The audit trail: verify its chains, export records, show the signing keys.
    Audit(crate::audit::AuditArgs),
    /// Encryption at rest: which data keys seal what, and key rotation.
    Keys(keys::KeysArgs),
}

#[derive(Debug, Args)]
struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServeArgs,
}

#[derive(Debug, Args)]
struct EndArgs {
    /// The session to end.
    suid: String,
    #[command(flatten)]
    server: ServeArgs,
}

#[derive(Debug, Args)]
struct CreateUserArgs {
    /// The new user's name.
    #[arg(long)]
    username: String,
    /// The password; prefer --password-stdin or SWITCHBOARD_NEW_PASSWORD so it stays out of
    /// shell history.
    #[arg(long, env = "SWITCHBOARD_NEW_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    /// Read the password from the first line of standard input.
    #[arg(long)]
    password_stdin: bool,
    /// The account to add the user to; created (with this user as its admin) if it does not
    /// exist. Default: "Operators" for --operator.
    #[arg(long)]
    account: Option<String>,
    /// Make the user an admin of the account.
    #[arg(long)]
    admin: bool,
    /// Make the user an operator: sees every account and node in the admin views.
    #[arg(long, conflicts_with = "admin")]
    operator: bool,
    #[command(flatten)]
    server: ServeArgs,
}

#[derive(Debug, Args)]
struct PruneArgs {
    /// Delete services stopped longer ago than this (with their status history).
    #[arg(long, default_value = "7d", value_parser = humantime::parse_duration)]
    stopped_for: std::time::Duration,
    #[command(flatten)]
    server: ServeArgs,
}

#[derive(Debug, Args)]
struct LimitsArgs {
    /// The account: its id, or its exact name.
    account: String,
    /// Give the account its own maximum for a limit, as NAME=VALUE (repeatable): a whole
    /// number, or for byte limits a size such as 5GiB. Its other own maximums stay.
    #[arg(long = "set", value_name = "NAME=VALUE", value_parser = parse_setting)]
    set: Vec<(Limit, u64)>,
    /// Let a limit follow the default again (repeatable).
    #[arg(long = "unset", value_name = "NAME", value_parser = parse_limit)]
    unset: Vec<Limit>,
    /// Let every limit follow the defaults again (before any --set).
    #[arg(long)]
    clear: bool,
    /// Print JSON (the shape of `GET /api/v1/admin/accounts/{id}/limits`) instead of a table.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    server: ServeArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum CdrFormat {
    Jsonl,
    Csv,
}

#[derive(Debug, Args)]
struct CdrArgs {
    /// Start (inclusive): RFC 3339 time or a date (YYYY-MM-DD, UTC). Default: the beginning.
    #[arg(long)]
    from: Option<String>,
    /// End (exclusive): RFC 3339 time or a date (YYYY-MM-DD, UTC). Default: now.
    #[arg(long)]
    to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "jsonl")]
    format: CdrFormat,
    #[command(flatten)]
    server: ServeArgs,
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    match args.command {
        AdminCommand::Status(a) => status(a).await,
        AdminCommand::Sessions(a) => sessions(a).await,
        AdminCommand::End(a) => end(a).await,
        AdminCommand::Users(a) => users(a).await,
        AdminCommand::CreateUser(a) => create_user(a).await,
        AdminCommand::Cdr(a) => cdr(a).await,
        AdminCommand::Prune(a) => prune(a).await,
        AdminCommand::Limits(a) => limits(a).await,
        AdminCommand::Audit(a) => crate::audit::run(a).await,
        AdminCommand::Keys(a) => keys::run(a).await,
    }
}

/// Opens the configured database (running migrations, so a fresh one works too).
async fn open(server: &ServeArgs) -> anyhow::Result<(switchboard_server::Config, Arc<dyn Store>)> {
    let config = server.load()?;
    let store = switchboard_store::connect(&config.database_url())
        .await
        .with_context(|| format!("cannot open the database {}", config.database_url()))?;
    Ok((config, store))
}

fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

fn ago(t: DateTime<Utc>) -> String {
    let secs = (Utc::now() - t).num_seconds().max(0);
    match secs {
        0..=119 => format!("{secs}s"),
        120..=7199 => format!("{}m", secs / 60),
        _ => format!("{}h", secs / 3600),
    }
}

async fn status(a: ListArgs) -> anyhow::Result<()> {
    let (_, store) = open(&a.server).await?;
    let services = store.services().await?;
    let latest = store.latest_statuses().await?;
    let open_sessions = store.open_sessions().await?;
    let now = Utc::now();
    let hour = store
        .end_counts(None, now - chrono::Duration::hours(1))
        .await?;
    let day = store
        .end_counts(None, now - chrono::Duration::days(1))
        .await?;
    if a.json {
        let nodes: Vec<_> = services
            .iter()
            .map(|s| {
                serde_json::json!({
                    "service": s,
                    "status": latest.iter().find(|st| st.service_id == s.id),
                })
            })
            .collect();
        let ends = |c: &[switchboard_store::EndCount]| -> serde_json::Value {
            c.iter()
                .map(|e| {
                    (
                        e.reason.as_str().to_owned(),
                        serde_json::json!({"count": e.count, "incomplete": e.incomplete}),
                    )
                })
                .collect::<serde_json::Map<_, _>>()
                .into()
        };
        return print_json(&serde_json::json!({
            "nodes": nodes,
            "open_sessions": open_sessions.len(),
            "live_sessions": open_sessions.iter().filter(|s| s.state == SessionState::Live).count(),
            "ends_last_hour": ends(&hour),
            "ends_last_day": ends(&day),
        }));
    }
    let mut t = Table::new(&[
        "node", "kind", "pid", "address", "running", "started", "cpu%", "mem%", "rss MiB", "load",
        "sessions", "viewers", "sample",
    ]);
    for s in &services {
        let st = latest.iter().find(|st| st.service_id == s.id);
        t.row(vec![
            s.node.clone(),
            s.kind.clone(),
            s.pid.to_string(),
            format!("{}:{}", s.address, s.port),
            if s.running { "yes".into() } else { "no".into() },
            ago(s.started_at),
            st.map(|x| format!("{:.1}", x.cpu_percent))
                .unwrap_or_default(),
            st.map(|x| format!("{:.1}", x.memory_percent))
                .unwrap_or_default(),
            st.map(|x| format!("{:.1}", x.resident_bytes as f64 / 1048576.0))
                .unwrap_or_default(),
            st.map(|x| format!("{:.2}", x.load)).unwrap_or_default(),
            st.map(|x| x.sessions.to_string()).unwrap_or_default(),
            st.map(|x| x.viewers.to_string()).unwrap_or_default(),
            st.map(|x| ago(x.at)).unwrap_or_default(),
        ]);
    }
    t.print();
    let live = open_sessions
        .iter()
        .filter(|s| s.state == SessionState::Live)
        .count();
    println!(
        "\nopen sessions: {} ({live} live, {} waiting)",
        open_sessions.len(),
        open_sessions.len() - live
    );
    for (period, counts) in [("last hour", &hour), ("last day", &day)] {
        let parts: Vec<String> = counts
            .iter()
            .map(|c| format!("{} {}", c.reason, c.count))
            .collect();
        let incomplete: u64 = counts.iter().map(|c| c.incomplete).sum();
        println!(
            "ended {period}: {} (incomplete attempts: {incomplete})",
            if parts.is_empty() {
                "none".into()
            } else {
                parts.join(", ")
            }
        );
    }
    Ok(())
}

async fn sessions(a: ListArgs) -> anyhow::Result<()> {
    let (_, store) = open(&a.server).await?;
    let open_sessions = store.open_sessions().await?;
    if a.json {
        return print_json(&open_sessions);
    }
    let names: std::collections::HashMap<_, _> = store
        .accounts()
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let mut t = Table::new(&[
        "suid",
        "account",
        "state",
        "label",
        "device",
        "age",
        "frames",
        "peak viewers",
    ]);
    for s in &open_sessions {
        t.row(vec![
            s.suid.to_string(),
            names.get(&s.account_id).cloned().unwrap_or_default(),
            s.state.to_string(),
            s.label.clone().unwrap_or_default(),
            s.device
                .as_ref()
                .and_then(|d| d.model.clone())
                .unwrap_or_default(),
            ago(s.created_at),
            s.stats.frames.to_string(),
            s.stats.peak_viewers.to_string(),
        ]);
    }
    t.print();
    Ok(())
}

async fn end(a: EndArgs) -> anyhow::Result<()> {
    let (config, store) = open(&a.server).await?;
    let suid: Suid = a.suid.parse().context("that is not a session id")?;
    let mut session = store.session(suid).await.context("no such session")?;
    if session.end(EndReason::EndedByUser, Utc::now()).is_err() {
        anyhow::bail!(
            "session {suid} has already ended ({:?})",
            session.end_reason
        );
    }
    let cdr = store.end_session(&session).await?;
    CdrLog::new(config.operations.data_dir.join("cdr"))
        .append(&cdr)
        .await?;
    println!("ended {suid}; a running node stops serving it within its stats interval");
    Ok(())
}

async fn users(a: ListArgs) -> anyhow::Result<()> {
    let (_, store) = open(&a.server).await?;
    let users = store.all_users().await?;
    if a.json {
        let views: Vec<_> = users
            .iter()
            .map(|u| serde_json::json!({"id": u.id, "username": u.username, "role": u.role, "account_id": u.account_id, "created_at": u.created_at}))
            .collect();
        return print_json(&views);
    }
    let names: std::collections::HashMap<_, _> = store
        .accounts()
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect();
    let mut t = Table::new(&["username", "role", "account", "created"]);
    for u in &users {
        t.row(vec![
            u.username.clone(),
            u.role.as_str().to_owned(),
            names.get(&u.account_id).cloned().unwrap_or_default(),
            u.created_at.to_rfc3339(),
        ]);
    }
    t.print();
    Ok(())
}

async fn create_user(a: CreateUserArgs) -> anyhow::Result<()> {
    let (_, store) = open(&a.server).await?;
    let password = match (a.password_stdin, a.password) {
        (true, _) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line)?;
            line.trim_end_matches(['\r', '\n']).to_owned()
        }
        (false, Some(p)) => p,
        (false, None) => {
            anyhow::bail!("give the password with --password-stdin or SWITCHBOARD_NEW_PASSWORD")
        }
    };
    switchboard_core::account::validate_username(&a.username)?;
    if password.chars().count() < switchboard_core::account::MIN_PASSWORD_LEN {
        anyhow::bail!(
            "the password must be at least {} characters",
            switchboard_core::account::MIN_PASSWORD_LEN
        );
    }
    let role = if a.operator {
        Role::Operator
    } else if a.admin {
        Role::Admin
    } else {
        Role::Member
    };
    let account_name = a
        .account
        .or_else(|| a.operator.then(|| "Operators".to_owned()))
        .context("give --account NAME (an existing account, or a new one to create)")?;
    let password_hash = switchboard_server::auth::hash_password(password)
        .await
        .map_err(|e| anyhow::anyhow!("hashing the password failed: {e}"))?;
    let now = Utc::now();
    let existing = store
        .accounts()
        .await?
        .into_iter()
        .find(|acc| acc.name == account_name);
    let mut user = User {
        id: UserId::new(),
        account_id: AccountId::new(),
        username: a.username.clone(),
        password_hash,
        role,
        created_at: now,
    };
    match existing {
        Some(acc) => {
            user.account_id = acc.id;
            store
                .create_user(&user)
                .await
                .context("cannot create the user")?;
        }
        None => {
            let acc = Account {
                id: AccountId::new(),
                name: account_name.clone(),
                created_at: now,
            };
            user.account_id = acc.id;
            // The first user of a new account administers it, whatever else they are.
            if user.role == Role::Member {
                user.role = Role::Admin;
            }
            store
                .create_account(&acc, &user)
                .await
                .context("cannot create the user")?;
        }
    }
    println!(
        "created {} ({}) in account {account_name:?}",
        a.username,
        user.role.as_str()
    );
    Ok(())
}

async fn prune(a: PruneArgs) -> anyhow::Result<()> {
    let (_, store) = open(&a.server).await?;
    let now = Utc::now();
    let before = now - chrono::Duration::from_std(a.stopped_for).context("duration too long")?;
    let pruned = store.prune(now, before).await?;
    println!(
        "removed {} expired token revocations and {} stopped services",
        pruned.revoked_tokens, pruned.services
    );
    Ok(())
}

/// Every limit's name, for messages about a name that is not one.
fn limit_names() -> String {
    Limit::ALL.map(Limit::name).join(", ")
}

/// A limit's name, as `--unset` takes it.
fn parse_limit(name: &str) -> Result<Limit, String> {
    Limit::parse(name.trim())
        .ok_or_else(|| format!("{name:?} is not a limit; the limits are {}", limit_names()))
}

/// `NAME=VALUE`, as `--set` takes it: a whole number, or a size for byte limits.
fn parse_setting(setting: &str) -> Result<(Limit, u64), String> {
    let (name, value) = setting.split_once('=').ok_or_else(|| {
        format!(
            "write NAME=VALUE, e.g. sessions=20; the limits are {}",
            limit_names()
        )
    })?;
    let limit = parse_limit(name)?;
    let value = value.trim();
    let max = match limit.unit() {
        "bytes" | "bytes/s" => value.parse::<ByteSize>().map(|b| b.as_u64()).map_err(|_| {
            format!(
                "{limit} takes a number of bytes or a size such as 512MiB or 5GiB, not {value:?}"
            )
        })?,
        _ => value
            .parse::<u64>()
            .map_err(|_| format!("{limit} takes a whole number, not {value:?}"))?,
    };
    if limit.is_shaped() && max < MIN_BANDWIDTH {
        return Err(format!(
            "{limit} must be at least {MIN_BANDWIDTH} bytes per second"
        ));
    }
    Ok((limit, max))
}

/// The account `key` names: its id, or else its exact name (which must be one account's).
async fn find_account(store: &dyn Store, key: &str) -> anyhow::Result<Account> {
    if let Ok(id) = key.parse::<AccountId>() {
        match store.account(id).await {
            Ok(account) => return Ok(account),
            Err(StoreError::NotFound) => {}
            Err(e) => return Err(e).context("cannot read the account"),
        }
    }
    let mut named: Vec<Account> = store
        .accounts()
        .await?
        .into_iter()
        .filter(|a| a.name == key)
        .collect();
    match named.len() {
        0 => anyhow::bail!(
            "no account has the id or name {key:?} (`switchboard admin users` lists the accounts)"
        ),
        1 => Ok(named.remove(0)),
        _ => anyhow::bail!(
            "{} accounts are named {key:?}; give one of their ids: {}",
            named.len(),
            named
                .iter()
                .map(|a| a.id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// A value of `limit` for people: sizes in binary units, seconds with an `s`.
fn limit_amount(limit: Limit, n: u64) -> String {
    match limit.unit() {
        "bytes" => ByteSize::b(n).display().iec().to_string(),
        "bytes/s" => format!("{}/s", ByteSize::b(n).display().iec()),
        "seconds" => format!("{n}s"),
        _ => n.to_string(),
    }
}

async fn limits(a: LimitsArgs) -> anyhow::Result<()> {
    let (config, store) = open(&a.server).await?;
    let account = find_account(store.as_ref(), &a.account).await?;
    // The gatekeeper counts use and merges the defaults exactly as a node does; with no
    // traffic through this process, the bandwidth it measures is zero.
    let gate = Gatekeeper::new(&config, store.clone(), config.node_name())
        .map_err(|e| anyhow::anyhow!("invalid [admission] settings: {e}"))?;
    let changing = a.clear || !a.set.is_empty() || !a.unset.is_empty();
    if changing {
        if let Some((limit, _)) = a.set.iter().find(|(l, _)| a.unset.contains(l)) {
            anyhow::bail!("{limit} is both given with --set and with --unset");
        }
        let mut own = if a.clear {
            LimitOverrides::new()
        } else {
            store.account_limits(account.id).await?
        };
        for limit in &a.unset {
            own.remove(limit);
        }
        own.extend(a.set.iter().copied());
        // No user made the change: the column records who did, and the command line is nobody.
        gate.set_limits(account.id, &own, None)
            .await
            .context("cannot save the account's limits")?;
    }
    let view = AccountLimits {
        account_id: account.id,
        account_name: account.name.clone(),
        enforced: gate.enabled(),
        limits: gate
            .usage(account.id)
            .await?
            .into_iter()
            .map(|u| LimitView {
                limit: u.limit,
                description: u.limit.describe().to_owned(),
                unit: u.limit.unit().to_owned(),
                shaped: u.limit.is_shaped(),
                value: u.value,
                max: u.max,
                default: gate.defaults().max(u.limit),
                overridden: u.overridden,
            })
            .collect(),
    };
    if a.json {
        return print_json(&view);
    }
    println!("account {:?} ({})", view.account_name, view.account_id);
    if !view.enforced {
        println!("limits are not checked: [admission] gatekeeper is off");
    }
    let mut t = Table::new(&["limit", "use", "max", "default", "own"]);
    for l in &view.limits {
        t.row(vec![
            l.limit.name().to_owned(),
            // A node measures bandwidth as it shapes it; this process moved nothing.
            if l.shaped {
                "-".to_owned()
            } else {
                limit_amount(l.limit, l.value)
            },
            limit_amount(l.limit, l.max),
            limit_amount(l.limit, l.default),
            if l.overridden {
                "yes".into()
            } else {
                String::new()
            },
        ]);
    }
    t.print();
    println!(
        "\nbandwidth limits slow an account down instead of refusing it; /admin shows their use"
    );
    if changing {
        println!(
            "saved; running nodes apply it within {}",
            humantime::format_duration(LIMITS_TTL)
        );
    }
    Ok(())
}

/// A plain text table with aligned columns.
struct Table {
    rows: Vec<Vec<String>>,
}

impl Table {
    fn new(headers: &[&str]) -> Self {
        Table {
            rows: vec![headers.iter().map(|h| h.to_uppercase()).collect()],
        }
    }

    fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    fn print(&self) {
        let cols = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..cols)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|s| s.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        for r in &self.rows {
            let line: Vec<String> = r
                .iter()
                .enumerate()
                .map(|(i, cell)| format!("{cell:<w$}", w = widths[i]))
                .collect();
            println!("{}", line.join("  ").trim_end());
        }
        if self.rows.len() == 1 {
            println!("(none)");
        }
    }
}

async fn cdr(a: CdrArgs) -> anyhow::Result<()> {
    let config = a.server.load()?;
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
    let store = switchboard_store::connect(&config.database_url())
        .await
        .context("cannot open the database")?;
    let cdrs = store.cdrs(from, to).await?;
    let mut out = std::io::stdout().lock();
    match a.format {
        CdrFormat::Jsonl => {
            for c in &cdrs {
                serde_json::to_writer(&mut out, c)?;
                out.write_all(b"\n")?;
            }
        }
        CdrFormat::Csv => {
            writeln!(
                out,
                "suid,account_id,created_by,kind,label,device_id,device_model,created_at,live_at,ended_at,end_reason,duration_seconds,frames,bytes,peak_viewers,viewer_seconds,incomplete,paths,jpeg_bytes_out,webrtc_frames_in,webrtc_bytes_in,webrtc_bytes_out"
            )?;
            for c in &cdrs {
                let model = c
                    .device
                    .as_ref()
                    .and_then(|d| d.model.clone())
                    .unwrap_or_default();
                let fields = [
                    c.suid.to_string(),
                    c.account_id.to_string(),
                    c.created_by.to_string(),
                    c.kind.as_str().to_owned(),
                    c.label.clone().unwrap_or_default(),
                    c.device_id.map(|d| d.to_string()).unwrap_or_default(),
                    model,
                    c.created_at.to_rfc3339(),
                    c.live_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    c.ended_at.to_rfc3339(),
                    c.end_reason.as_str().to_owned(),
                    c.duration_seconds.to_string(),
                    c.frames.to_string(),
                    c.bytes.to_string(),
                    c.peak_viewers.to_string(),
                    c.viewer_seconds.to_string(),
                    c.incomplete.to_string(),
                    // One field: the paths used, space-separated ("jpeg webrtc").
                    c.paths
                        .iter()
                        .map(|p| p.as_str())
                        .collect::<Vec<_>>()
                        .join(" "),
                    c.traffic.jpeg.bytes_out.to_string(),
                    c.traffic.webrtc.frames_in.to_string(),
                    c.traffic.webrtc.bytes_in.to_string(),
                    c.traffic.webrtc.bytes_out.to_string(),
                ];
                let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                writeln!(out, "{}", line.join(","))?;
            }
        }
    }
    Ok(())
}
