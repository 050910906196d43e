//! Stage `cluster`: three nodes over a fresh PostgreSQL database and the NATS server, holding
//! live sessions created on every node in turn (so each node owns a third) whose viewers
//! are spread over the nodes (a third watch on the owner, the rest on another node). Over a
//! quiet window: the NATS messages and PostgreSQL rows each session costs per minute, with
//! their kinds, and every process's CPU. Then a rolling restart: each node in turn is
//! stopped with SIGTERM and started again, and timed until every session answers as open on
//! it and every device's token works again. Last, every session ends and must have exactly
//! one CDR.

use super::back::{Opened, Probe, end_all};
use super::budget::{self, Budget};
use super::live::LiveFleet;
use super::nats_count::{self, NatsCounter};
use super::pg_writes::PgWrites;
use super::report::{Figure, Goal, StageReport};
use super::restart::{BACK_PATIENCE, EXIT_PATIENCE, SIGTERM_GOAL_S};
use super::{ScaleArgs, loopback, server_flags};
use crate::bench::nodes::{Cluster, ClusterCpu, NodeSpec, node_name};
use crate::bench::temp_database::TempDatabase;
use crate::load::account::ApiClient;
use bytes::Bytes;
use nix::sys::signal::Signal;
use reqwest::Url;
use std::time::Duration;
use tokio::time::Instant;

/// The nodes of the stage.
const NODES: usize = 3;

/// The PostgreSQL server used when `--database-url` names none.
pub const LOCAL_POSTGRES: &str = "postgres://postgres@127.0.0.1:5432";

/// The session lease: the product's default.
const SESSION_LEASE: Duration = Duration::from_secs(4);

/// Pause after the sessions are open, so the window starts on the steady state.
const SETTLE: Duration = Duration::from_secs(3);

/// Runs the stage on a database created for it.
pub async fn run(args: &ScaleArgs, budget: &Budget) -> anyhow::Result<StageReport> {
    let server = args.database_url.as_deref().unwrap_or(LOCAL_POSTGRES);
    let database = TempDatabase::create(server).await?;
    let result = run_on(args, budget, &database).await;
    // The database goes whatever happened; the nodes were stopped inside `run_on`.
    if let Err(e) = database.drop_it().await {
        eprintln!("warning: {e:#}");
    }
    result
}

async fn run_on(
    args: &ScaleArgs,
    budget: &Budget,
    database: &TempDatabase,
) -> anyhow::Result<StageReport> {
    let (sessions, capped) = budget::cap(args.cluster_sessions as usize, 2, budget);
    let window = Duration::from_secs_f64(args.cluster_seconds);
    let mut report = StageReport {
        stage: "cluster",
        setting: format!(
            "{NODES} nodes over PostgreSQL and NATS {}, {sessions} live sessions (device at \
             one frame per 10 s, one watch viewer; a third of the viewers on the owner), \
             {:.0} s window",
            args.nats_url,
            window.as_secs_f64()
        ),
        ..StageReport::default()
    };
    if let Some(why) = capped {
        report.note(why);
    }
    let spec = NodeSpec {
        nodes: NODES,
        database_url: database.url.clone(),
        nats_url: args.nats_url.clone(),
        session_lease: SESSION_LEASE,
        flags: server_flags::lasting(sessions, 2 * sessions),
    };
    eprintln!("cluster: starting {NODES} nodes over {} …", database.name);
    let mut cluster = Cluster::start(&spec).await?;
    let bases: Vec<Url> = (0..NODES)
        .map(|i| cluster.base(i))
        .collect::<anyhow::Result<_>>()?;
    let http = loopback::api_client()?;
    let first = ApiClient::sign_up(http.clone(), bases[0].clone()).await?;
    let apis: Vec<ApiClient> = bases.iter().map(|b| first.on(b.clone())).collect();

    let frame = Bytes::from(switchboard_media::synth::sized(1, 4_000));
    let mut fleet = LiveFleet::open_spread(sessions, frame.clone(), |n| {
        let owner = n % NODES;
        (&apis[owner], &bases[viewer_node(n)])
    })
    .await?;
    let counter = NatsCounter::start(&args.nats_url).await?;
    tokio::time::sleep(SETTLE).await;

    let nats_before = counter.snapshot();
    let pg_before = PgWrites::read(&database.url).await?;
    let cpu_before = ClusterCpu::take(&cluster.pids())?;
    let started = Instant::now();
    tokio::time::sleep(window).await;
    let spent = started.elapsed().as_secs_f64();
    let cpu = ClusterCpu::take(&cluster.pids())?.since(&cpu_before);
    let pg = PgWrites::read(&database.url).await?.since(&pg_before);
    let nats = nats_count::since(&counter.snapshot(), &nats_before);
    counter.stop();

    let per_session_minute = |n: f64| n / sessions.max(1) as f64 / (spent / 60.0);
    let nats_total: u64 = nats.values().map(|t| t.messages).sum();
    report.push(Figure::info(
        "NATS messages per session per minute",
        per_session_minute(nats_total as f64),
        "",
    ));
    for (kind, tally) in &nats {
        report.push(Figure::info(
            format!("  NATS {kind}"),
            per_session_minute(tally.messages as f64),
            "",
        ));
    }
    report.push(Figure::info(
        "PostgreSQL rows written per session per minute",
        per_session_minute(pg.total_rows() as f64),
        "",
    ));
    for (table, rows) in &pg.rows {
        report.push(Figure::info(
            format!("  PostgreSQL {table}"),
            per_session_minute(*rows as f64),
            "",
        ));
    }
    report.push(Figure::info(
        "PostgreSQL commits per session per minute (reads too)",
        per_session_minute(pg.commits as f64),
        "",
    ));
    push_cpu(&mut report, &cpu, spent);
    for index in 0..NODES {
        let rss = cluster.node(index)?.rss_bytes()?;
        report.push(Figure::info(
            format!("RSS {}", node_name(index)),
            rss as f64 / (1024.0 * 1024.0),
            "MiB",
        ));
    }
    report.push(Figure::judged(
        "live sockets that failed",
        fleet.failures.load(std::sync::atomic::Ordering::Relaxed) as f64,
        "",
        Goal::Exactly(0.0),
    ));

    // The devices' and viewers' sockets would end with their node; what is timed is the
    // sessions and device tokens coming back.
    let opened = Opened {
        suids: fleet.devices.iter().map(|d| d.suid).collect(),
        devices: std::mem::take(&mut fleet.devices),
    };
    fleet.close().await;
    eprintln!("cluster: rolling restart …");
    for index in 0..NODES {
        rolling_step(
            &mut cluster,
            index,
            &http,
            &first,
            &opened,
            &frame,
            &mut report,
        )
        .await?;
    }

    // Every node listens on a new port since its restart.
    end_all(&first.on(cluster.base(0)?), &opened.suids).await?;
    report.note_complaints(&cluster.complaints(), 5);
    cluster.stop().await;
    // The nodes' CDR files went with their folders; the database holds every record.
    let count = super::cdr::in_database(&database.url, &opened.suids).await?;
    super::cdr::push_count(&mut report, "database", count, opened.suids.len());
    Ok(report)
}

/// The node that watches session `n`: the owner (`n % 3`) for a third of the sessions, each
/// other node for another third.
fn viewer_node(n: usize) -> usize {
    (n + n / NODES) % NODES
}

/// Stops node `index` with SIGTERM, starts it again and adds how long every session and
/// device took to be back on it.
async fn rolling_step(
    cluster: &mut Cluster,
    index: usize,
    http: &reqwest::Client,
    api: &ApiClient,
    opened: &Opened,
    frame: &Bytes,
    report: &mut StageReport,
) -> anyhow::Result<()> {
    let name = node_name(index);
    let exit = cluster
        .signal(index, Signal::SIGTERM, EXIT_PATIENCE)
        .await?;
    report.push(Figure::info(
        format!("{name}: exit after SIGTERM"),
        exit.as_secs_f64(),
        "s",
    ));
    let started = Instant::now();
    cluster.restart(index).await?;
    report.push(Figure::info(
        format!("{name}: healthy after start"),
        started.elapsed().as_secs_f64(),
        "s",
    ));
    let base = cluster.base(index)?;
    let probe = Probe {
        http,
        base: &base,
        token: api.token(),
        opened,
        frame: frame.clone(),
    };
    let back = probe
        .all_back(index as u64 + 100, started + BACK_PATIENCE)
        .await?;
    report.push(Figure::judged(
        format!("{name}: all back after its restart"),
        started.elapsed().as_secs_f64(),
        "s",
        Goal::AtMost(SIGTERM_GOAL_S),
    ));
    report.push(Figure::judged(
        format!("{name}: sessions and devices back"),
        back as f64,
        "",
        Goal::Exactly((opened.suids.len() + opened.devices.len()) as f64),
    ));
    Ok(())
}

/// Adds every process's share of a core over the window.
fn push_cpu(report: &mut StageReport, cpu: &ClusterCpu, window: f64) {
    let share = |seconds: f64| 100.0 * seconds / window;
    for (index, seconds) in cpu.nodes.iter().enumerate() {
        if let Some(seconds) = seconds {
            report.push(Figure::info(
                format!("CPU {}", node_name(index)),
                share(*seconds),
                "% of a core",
            ));
        }
    }
    report.push(Figure::info(
        "CPU nats-server",
        share(cpu.nats),
        "% of a core",
    ));
    report.push(Figure::info(
        "CPU postgres",
        share(cpu.postgres),
        "% of a core",
    ));
    report.push(Figure::info(
        "CPU bench (devices, viewers)",
        share(cpu.bench),
        "% of a core",
    ));
    report.push(Figure::info(
        "CPU of other processes",
        share(cpu.others()),
        "% of a core",
    ));
    if cpu.others() > 0.25 * window {
        report.note("other processes used the CPU during the window; the figures are pessimistic");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn viewers_are_spread_over_every_node() {
        let mut on_owner = 0;
        let mut per_node = [0; NODES];
        // Nine sessions make one full turn of owners and viewer nodes.
        for n in 0..270 {
            per_node[viewer_node(n)] += 1;
            if viewer_node(n) == n % NODES {
                on_owner += 1;
            }
        }
        assert_eq!(per_node, [90, 90, 90]);
        assert_eq!(on_owner, 90);
    }
}
