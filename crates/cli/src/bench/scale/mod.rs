//! `switchboard bench scale`: what many open sessions cost one server and whether it keeps
//! them. Stages, each on a server of its own started by the bench:
//!
//! - `sessions`: memory per waiting and per live session, idle CPU, and whether session
//!   timers fire on time with the server full;
//! - `restart`: how long a server takes to have every session back after SIGTERM and after
//!   SIGKILL, and that every CDR is then written exactly once (SQLite, and PostgreSQL with
//!   `--database-url`);
//! - `connections`: idle WebSockets of every kind: memory per connection, idle CPU, one
//!   event to every listener, a new connection's accept time;
//! - `growth`: `sessions` and `connections` again at several sizes, side by side;
//! - `cluster`: three nodes over PostgreSQL and NATS: bus messages and database writes per
//!   session, every process's CPU, and a rolling restart.
//!
//! The bench's own sockets are spread over loopback addresses ([`loopback`]) and sized to fit
//! under its open-files limit ([`budget`]).

mod api;
mod back;
mod budget;
mod cdr;
mod cluster;
mod connections;
mod growth;
mod idle_cpu;
mod listeners;
mod live;
mod loopback;
mod nats_count;
mod pg_writes;
mod report;
mod restart;
mod server_flags;
mod sessions;
mod timers;

use clap::{Args, ValueEnum};
use indicatif::{ProgressBar, ProgressStyle};
use report::StageReport;

/// Flags of `switchboard bench scale`.
#[derive(Debug, Clone, Args)]
pub struct ScaleArgs {
    /// Stages to run, comma-separated.
    #[arg(
        long,
        env = "SWITCHBOARD_BENCH_STAGES",
        value_enum,
        value_delimiter = ',',
        default_value = "sessions,restart,connections,growth,cluster"
    )]
    pub stages: Vec<Stage>,
    /// Open sessions: in `sessions` half wait for a device and half are live (two sockets
    /// each, capped to the open-files limit); in `restart` all but a few wait.
    #[arg(long, env = "SWITCHBOARD_BENCH_SESSIONS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub sessions: u32,
    /// Unwatched live sessions whose no-viewers timer is checked for lateness.
    #[arg(long, env = "SWITCHBOARD_BENCH_TIMER_SESSIONS", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub timer_sessions: u32,
    /// The no-viewers timeout of `sessions`' server, in seconds: the timer batch waits this
    /// long, and every live session's viewer must join within it.
    #[arg(long, env = "SWITCHBOARD_BENCH_TIMER_SECONDS", default_value_t = 15.0,
          value_parser = seconds)]
    pub timer_seconds: f64,
    /// How long idle CPU is measured, in seconds.
    #[arg(long, env = "SWITCHBOARD_BENCH_IDLE_SECONDS", default_value_t = 10.0,
          value_parser = seconds)]
    pub idle_seconds: f64,
    /// Live sessions with a device in `restart`, whose device tokens must work again.
    #[arg(long, env = "SWITCHBOARD_BENCH_RESTART_DEVICES", default_value_t = 20,
          value_parser = clap::value_parser!(u32).range(0..=10_000))]
    pub restart_devices: u32,
    /// A PostgreSQL server (without a database name) to run `restart` on as well as SQLite,
    /// and `cluster` on (which uses postgres://postgres@127.0.0.1:5432 without it): a
    /// database `sb_bench_<random>` is created there for each and dropped at the end.
    #[arg(long, env = "SWITCHBOARD_BENCH_DATABASE_URL")]
    pub database_url: Option<String>,
    /// The NATS server of `cluster`'s nodes.
    #[arg(
        long,
        env = "SWITCHBOARD_BENCH_NATS_URL",
        default_value = "nats://127.0.0.1:4222"
    )]
    pub nats_url: String,
    /// Live sessions in `cluster`, created on each node in turn (two sockets each).
    #[arg(long, env = "SWITCHBOARD_BENCH_CLUSTER_SESSIONS", default_value_t = 1_000,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub cluster_sessions: u32,
    /// How long `cluster` counts bus messages, database writes and CPU, in seconds.
    #[arg(long, env = "SWITCHBOARD_BENCH_CLUSTER_SECONDS", default_value_t = 60.0,
          value_parser = seconds)]
    pub cluster_seconds: f64,
    /// The sizes `growth` runs the `sessions` stage at, comma-separated.
    #[arg(long, env = "SWITCHBOARD_BENCH_GROWTH_SESSIONS", value_delimiter = ',',
          default_value = "100,1000,10000",
          value_parser = clap::value_parser!(u32).range(2..=1_000_000))]
    pub growth_sessions: Vec<u32>,
    /// The sizes `growth` runs the `connections` stage at, comma-separated.
    #[arg(long, env = "SWITCHBOARD_BENCH_GROWTH_CONNECTIONS", value_delimiter = ',',
          default_value = "1000,10000,100000",
          value_parser = clap::value_parser!(u32).range(3..=1_000_000))]
    pub growth_connections: Vec<u32>,
    /// Idle WebSockets in `connections`: a third devices and a third watch sockets of live
    /// sessions, the rest account-event sockets (capped to the open-files limit).
    #[arg(long, env = "SWITCHBOARD_BENCH_CONNECTIONS", default_value_t = 9_000,
          value_parser = clap::value_parser!(u32).range(3..=1_000_000))]
    pub connections: u32,
    /// Print the figures as JSON instead of tables.
    #[arg(long, env = "SWITCHBOARD_BENCH_JSON")]
    pub json: bool,
}

/// What `--stages` can pick.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Stage {
    /// Memory per waiting and live session, idle CPU, timer lateness.
    Sessions,
    /// Time to every session back after SIGTERM and SIGKILL; CDRs written once.
    Restart,
    /// Idle WebSockets: memory per connection, idle CPU, one event to every listener, and
    /// a new connection's accept time.
    Connections,
    /// `sessions` and `connections` at several sizes, side by side.
    Growth,
    /// Three nodes over PostgreSQL and NATS: bus messages and database writes per session,
    /// CPU of every process, a rolling restart.
    Cluster,
}

/// Runs the chosen stages and prints their figures. Fails only if a stage could not run;
/// missed goals are reported as FAIL.
pub async fn run(args: ScaleArgs) -> anyhow::Result<()> {
    let budget = budget::Budget::raise()?;
    eprintln!("{}", budget.describe());
    let mut reports = Vec::new();
    for stage in dedup(&args.stages) {
        let stage_reports = match stage {
            Stage::Sessions => vec![sessions::run(&args, &budget).await?],
            Stage::Restart => restart::run(&args).await?,
            Stage::Connections => vec![connections::run(&args, &budget).await?],
            Stage::Growth => vec![growth::run(&args, &budget).await?],
            Stage::Cluster => vec![cluster::run(&args, &budget).await?],
        };
        for report in stage_reports {
            if !args.json {
                report.print_table();
            }
            reports.push(report);
        }
    }
    if args.json {
        let json = serde_json::json!({
            "open_files": {
                "soft_before": budget.before.soft,
                "hard_before": budget.before.hard,
                "soft": budget.after.soft,
                "hard": budget.after.hard,
            },
            "stages": reports.iter().map(StageReport::to_json).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&json)?);
    } else {
        println!("\n{}", budget.describe());
    }
    Ok(())
}

/// A number of seconds from 0.5 s to a day.
fn seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if (0.5..=86_400.0).contains(&v) => Ok(v),
        _ => Err("use a number of seconds from 0.5 to 86400".into()),
    }
}

/// The stages in the order given, each once.
fn dedup(stages: &[Stage]) -> Vec<Stage> {
    let mut seen = Vec::new();
    for stage in stages {
        if !seen.contains(stage) {
            seen.push(*stage);
        }
    }
    seen
}

/// A progress bar on standard error for `len` steps of `what`.
fn bar(len: u64, what: &str) -> ProgressBar {
    let bar = ProgressBar::new(len);
    let style = ProgressStyle::with_template("{msg:>20} [{bar:40}] {pos}/{len} {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    bar.set_style(style);
    bar.set_message(what.to_owned());
    bar
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        scale: ScaleArgs,
    }

    #[test]
    fn parses_stages_and_sizes() {
        let cli = Cli::try_parse_from([
            "scale",
            "--stages",
            "restart,sessions,restart",
            "--sessions",
            "2000",
            "--json",
        ])
        .unwrap();
        assert_eq!(
            dedup(&cli.scale.stages),
            vec![Stage::Restart, Stage::Sessions]
        );
        assert_eq!(cli.scale.sessions, 2000);
        assert!(cli.scale.json);
        let defaults = Cli::try_parse_from(["scale"]).unwrap();
        assert_eq!(
            defaults.scale.stages,
            vec![
                Stage::Sessions,
                Stage::Restart,
                Stage::Connections,
                Stage::Growth,
                Stage::Cluster
            ]
        );
        assert_eq!(defaults.scale.growth_sessions, [100, 1_000, 10_000]);
        assert_eq!(defaults.scale.growth_connections, [1_000, 10_000, 100_000]);
        assert!(Cli::try_parse_from(["scale", "--growth-sessions", "1"]).is_err());
        assert_eq!(defaults.scale.sessions, 10_000);
        assert!(Cli::try_parse_from(["scale", "--stages", "nonsense"]).is_err());
        assert!(Cli::try_parse_from(["scale", "--sessions", "1"]).is_err());
        assert!(Cli::try_parse_from(["scale", "--idle-seconds", "0"]).is_err());
        assert_eq!(defaults.scale.timer_seconds, 15.0);
    }
}
