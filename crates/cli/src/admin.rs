//! `switchboard admin …`: reads the database directly, so it works with the server stopped.

use anyhow::Context;
use chrono::{DateTime, NaiveDate, Utc};
use clap::{Args, Subcommand, ValueEnum};
use std::io::Write;

use crate::settings::ServeArgs;

#[derive(Debug, Args)]
pub struct AdminArgs {
    #[command(subcommand)]
    command: AdminCommand,
}

#[derive(Debug, Subcommand)]
enum AdminCommand {
    /// Export call-detail records of sessions that ended in [from, to).
    Cdr(CdrArgs),
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

fn parse_time(s: &str) -> anyhow::Result<DateTime<Utc>> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .with_context(|| format!("{s:?} is neither an RFC 3339 time nor a YYYY-MM-DD date"))?;
    Ok(d.and_hms_opt(0, 0, 0).context("bad date")?.and_utc())
}

pub async fn run(args: AdminArgs) -> anyhow::Result<()> {
    match args.command {
        AdminCommand::Cdr(a) => cdr(a).await,
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
                "suid,account_id,created_by,kind,label,device_id,device_model,created_at,live_at,ended_at,end_reason,duration_seconds,frames,bytes,peak_viewers,viewer_seconds,incomplete"
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
                ];
                let line: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
                writeln!(out, "{}", line.join(","))?;
            }
        }
    }
    Ok(())
}

/// Quotes a CSV field when it needs it (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_owned()
    }
}
