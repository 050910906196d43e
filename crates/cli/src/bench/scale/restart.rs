//! Stage `restart`: a server holding many open sessions is stopped (SIGTERM, then SIGKILL)
//! and started again on the same data; the figure is the time from the new process's start
//! until every session answers as open and every device's token is accepted again. Then
//! every session is ended and each must have exactly one CDR, in the files and the database.

use super::api;
use super::back::{Opened, Probe, end_all};
use super::report::{Figure, Goal, StageReport};
use super::{ScaleArgs, bar, cdr, loopback, server_flags};
use crate::bench::child::{ServerChild, free_port};
use crate::bench::temp_database::TempDatabase;
use crate::load::account::ApiClient;
use anyhow::Context;
use bytes::Bytes;
use nix::sys::signal::Signal;
use std::path::Path;
use std::time::Duration;
use switchboard_core::Suid;
use tokio::time::Instant;

/// Goals of the product: every session back within these after the new process starts.
pub const SIGTERM_GOAL_S: f64 = 2.0;
const SIGKILL_GOAL_S: f64 = 5.0;

/// How long a stopped server may take to exit, and a new one to have everything back.
pub const EXIT_PATIENCE: Duration = Duration::from_secs(60);
pub const BACK_PATIENCE: Duration = Duration::from_secs(120);

/// Runs the stage on SQLite and, given `--database-url`, on PostgreSQL.
pub async fn run(args: &ScaleArgs) -> anyhow::Result<Vec<StageReport>> {
    let mut reports = vec![run_on(args, None).await?];
    if let Some(server) = &args.database_url {
        let database = TempDatabase::create(server).await?;
        let result = run_on(args, Some(&database.url)).await;
        database.drop_it().await?;
        reports.push(result?);
    }
    Ok(reports)
}

/// What lives across the restarts: the data folder, the address, the flags.
struct Home {
    dir: tempfile::TempDir,
    listen: String,
    flags: Vec<String>,
}

impl Home {
    fn spawn(&self) -> anyhow::Result<ServerChild> {
        let flags: Vec<&str> = self.flags.iter().map(String::as_str).collect();
        ServerChild::spawn(self.dir.path(), &self.listen, &flags)
    }
}

async fn run_on(args: &ScaleArgs, database_url: Option<&str>) -> anyhow::Result<StageReport> {
    let devices = (args.restart_devices as usize).min(args.sessions as usize);
    let waiting = args.sessions as usize - devices;
    let backend = if database_url.is_some() {
        "PostgreSQL"
    } else {
        "SQLite"
    };
    let mut report = StageReport {
        stage: "restart",
        setting: format!("{waiting} waiting + {devices} live sessions on {backend}"),
        ..StageReport::default()
    };
    let mut flags = server_flags::lasting(args.sessions as usize, 0);
    if let Some(url) = database_url {
        flags.extend(["--database-url".into(), url.to_owned()]);
    }
    let home = Home {
        dir: tempfile::Builder::new()
            .prefix("switchboard-bench-scale-")
            .tempdir()
            .context("cannot create a temporary directory")?,
        listen: format!("127.0.0.1:{}", free_port()?),
        flags,
    };
    let mut server = home.spawn()?;
    server.wait_until_healthy().await?;
    let base = server.base().clone();
    let http = loopback::api_client()?;
    let api = ApiClient::sign_up(http.clone(), base.clone()).await?;
    let opened = open_sessions(&api, waiting, devices).await?;
    let frame = Bytes::from(switchboard_media::synth::sized(1, 4_000));
    let probe = Probe {
        http: &http,
        base: &base,
        token: api.token(),
        opened: &opened,
        frame,
    };
    // The same reads on the running server: how much of "all back" is the reading itself.
    let reading = Instant::now();
    probe.all_back(1, reading + BACK_PATIENCE).await?;
    report.push(Figure::info(
        "reading all, before any restart",
        reading.elapsed().as_secs_f64(),
        "s",
    ));

    let rounds = [
        (Signal::SIGTERM, "SIGTERM", SIGTERM_GOAL_S),
        (Signal::SIGKILL, "SIGKILL", SIGKILL_GOAL_S),
    ];
    for (round, (signal, name, goal)) in rounds.into_iter().enumerate() {
        let exit = server.signal_and_wait(signal, EXIT_PATIENCE).await?;
        report.push(Figure::info(
            format!("exit after {name}"),
            exit.as_secs_f64(),
            "s",
        ));
        let started = Instant::now();
        server = home.spawn()?;
        server.wait_until_healthy().await?;
        report.push(Figure::info(
            format!("healthy after {name}"),
            started.elapsed().as_secs_f64(),
            "s",
        ));
        let back = probe
            .all_back(round as u64 + 2, started + BACK_PATIENCE)
            .await?;
        report.push(Figure::judged(
            format!("all back after {name}"),
            started.elapsed().as_secs_f64(),
            "s",
            Goal::AtMost(goal),
        ));
        report.push(Figure::judged(
            format!("sessions and devices back after {name}"),
            back as f64,
            "",
            Goal::Exactly((opened.suids.len() + opened.devices.len()) as f64),
        ));
    }

    end_all(&api, &opened.suids).await?;
    report.note_complaints(&server.complaints(), 5);
    server
        .signal_and_wait(Signal::SIGTERM, EXIT_PATIENCE)
        .await?;
    let data = home.dir.path().join("data");
    let url = database_url.map_or_else(
        || format!("sqlite://{}", data.join("switchboard.db").display()),
        str::to_owned,
    );
    push_cdrs(&mut report, &data, &url, &opened.suids).await?;
    Ok(report)
}

/// Creates `waiting` sessions left waiting and `devices` live ones with a device each.
async fn open_sessions(api: &ApiClient, waiting: usize, devices: usize) -> anyhow::Result<Opened> {
    let progress = bar((waiting + devices) as u64, "sessions");
    let created = api::create_sessions(api, "waiting", waiting, || progress.inc(1)).await?;
    let mut suids: Vec<Suid> = created.into_iter().map(|(suid, _)| suid).collect();
    let mut registered = Vec::with_capacity(devices);
    for n in 0..devices {
        let device = api::create_live(api, &format!("live {n}")).await?;
        suids.push(device.suid);
        registered.push(device);
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(Opened {
        suids,
        devices: registered,
    })
}

/// Adds the CDR figures: sessions with exactly one record, in the files and the database.
async fn push_cdrs(
    report: &mut StageReport,
    data: &Path,
    database_url: &str,
    suids: &[Suid],
) -> anyhow::Result<()> {
    for (place, count) in [
        ("files", cdr::in_files(data, suids)?),
        ("database", cdr::in_database(database_url, suids).await?),
    ] {
        cdr::push_count(report, place, count, suids.len());
    }
    Ok(())
}
