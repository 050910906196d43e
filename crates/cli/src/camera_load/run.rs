//! Runs a camera load: prepare the accounts and cameras, start cameras and searchers with a
//! progress bar, wait for the pending detections, and report.

use super::args::CameraLoadArgs;
use super::camera::{self, Shared};
use super::figures::{Figures, Plan, Tally};
use super::{searcher, setup};
use crate::load::account::normalize_base;
use anyhow::{Context, bail};
use bytes::Bytes;
use indicatif::{ProgressBar, ProgressStyle};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;
use tokio::task::JoinSet;
use tokio::time::Instant;

/// Reads the photographs, each checked to be a JPEG.
fn photos(args: &CameraLoadArgs) -> anyhow::Result<Vec<Bytes>> {
    args.images
        .iter()
        .map(|path| {
            let data =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            if !data.starts_with(&[0xFF, 0xD8, 0xFF]) {
                bail!("{} is not a JPEG", path.display());
            }
            Ok(Bytes::from(data))
        })
        .collect()
}

/// Runs the load and prints its figures. Fails when an error other than a load refusal
/// happened, so scripts can tell a broken run from a slow one.
pub async fn run(args: CameraLoadArgs) -> anyhow::Result<()> {
    let base = normalize_base(args.server.clone())?;
    let photos = photos(&args)?;
    if args.every.is_zero() {
        bail!("--every must be longer than zero");
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let accounts = args.accounts();
    eprintln!(
        "preparing {accounts} account(s) and {} camera(s) at {base}",
        args.cameras
    );
    let (users, cameras) = setup::prepare(
        &http,
        &base,
        accounts,
        args.cameras,
        args.cameras_per_account,
    )
    .await?;
    let length = Duration::from_secs_f64(args.seconds);
    let start = Instant::now() + Duration::from_millis(200);
    let stop_at = start + length;
    let shared = Arc::new(Shared {
        http,
        base: base.clone(),
        photos,
        users: users.into_iter().map(|u| u.token).collect(),
        every: args.every,
        deadline: args.deadline,
        stop_at,
        give_up_at: stop_at + args.drain,
        tally: Tally::default(),
    });

    let mut tasks = JoinSet::new();
    let spread = args.every / args.cameras.max(1);
    for (i, cam) in cameras.into_iter().enumerate() {
        let first_at = start + spread * u32::try_from(i).unwrap_or(u32::MAX);
        tasks.spawn(camera::run(shared.clone(), cam, i, first_at));
    }
    for s in 0..args.searchers as usize {
        let account = s % shared.users.len().max(1);
        tasks.spawn(searcher::run(shared.clone(), account, s, args.search_every));
    }
    let bar = ProgressBar::new(length.as_secs());
    bar.set_style(
        ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    // Samples the backlog every second and draws the bar, until every pending snapshot is
    // settled or given up.
    loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t = &shared.tally;
        let outstanding = t.outstanding.load(Ordering::Relaxed);
        let now = Instant::now();
        if now < stop_at {
            t.backlog
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .push(outstanding);
        }
        bar.set_position(now.saturating_duration_since(start).as_secs());
        bar.set_message(format!(
            "{} · uploads {} · stored {} · pending {outstanding} · searches {} · errors {}",
            if now < stop_at {
                "uploading"
            } else {
                "waiting for detections"
            },
            t.sent.load(Ordering::Relaxed),
            t.accepted.load(Ordering::Relaxed),
            t.searches.load(Ordering::Relaxed),
            t.errors.total()
        ));
        while tasks.try_join_next().is_some() {}
        let settled = outstanding == 0 && tasks.is_empty();
        if now >= stop_at && settled || now > shared.give_up_at + Duration::from_secs(2) {
            break;
        }
    }
    bar.finish_and_clear();
    tasks.shutdown().await;

    let figures = Figures::of(
        &shared.tally,
        Plan {
            server: base.to_string(),
            cameras: args.cameras,
            accounts,
            every: args.every,
            searchers: args.searchers,
            seconds: args.seconds,
            deadline: args.deadline,
        },
    );
    if args.json {
        println!("{}", serde_json::to_string_pretty(&figures)?);
    } else {
        figures.print();
    }
    if figures.errors > 0 {
        bail!(
            "{} errors happened during the run (listed above)",
            figures.errors
        );
    }
    if figures.uploads_accepted == 0 {
        bail!("the server stored no upload");
    }
    Ok(())
}
