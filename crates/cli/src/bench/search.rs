//! Object search over a large history: a fresh SQLite database is filled with synthetic
//! snapshots and detections (one account, a few cameras, one snapshot every 5 s, labels as
//! skewed as a real home's: mostly people), then the store's own search runs the kinds of
//! questions the API asks, and their latencies are reported.

use anyhow::Context;
use serde::Serialize;
use sqlx::sqlite::SqliteConnectOptions;
use std::str::FromStr;
use std::time::{Duration, Instant};
use switchboard_core::{Account, AccountId, Role, User, UserId};
use switchboard_store::{Camera, CameraStore, SnapshotSearch, SqliteStore, Store};
use uuid::Uuid;

/// Cameras the history is spread over.
const CAMERAS: usize = 4;
/// Detections per snapshot, on average.
const PER_SNAPSHOT: u64 = 4;
/// Seconds between one camera's snapshots (a million detections span about 3.6 days).
const EVERY_SECS: i64 = 5;
/// The millisecond time of the first snapshot (2026-01-01).
const START_MS: i64 = 1_767_225_600_000;

/// Latencies of one kind of question.
#[derive(Debug, Serialize)]
pub struct QueryFigures {
    pub query: &'static str,
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub results: usize,
}

/// What the search benchmark measured.
#[derive(Debug, Serialize)]
pub struct SearchReport {
    pub detections: u64,
    pub snapshots: u64,
    pub seed_seconds: f64,
    pub queries_per_kind: usize,
    /// Every question of every kind together.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub target_p99_ms: f64,
    pub target_met: bool,
    pub kinds: Vec<QueryFigures>,
}

/// Fills a database in `dir` with `detections` detections and times `queries` searches of
/// each kind.
pub async fn run(
    dir: &std::path::Path,
    detections: u64,
    queries: usize,
) -> anyhow::Result<SearchReport> {
    let path = dir.join("search-bench.sqlite");
    let url = format!("sqlite://{}", path.display());
    let store = SqliteStore::connect(&url)
        .await
        .context("cannot create the bench database")?;
    let account = Account {
        id: AccountId::new(),
        name: "Search bench".into(),
        created_at: chrono::Utc::now(),
    };
    let admin = User {
        id: UserId::new(),
        account_id: account.id,
        username: "bench".into(),
        password_hash: "not-a-login".into(),
        role: Role::Admin,
        created_at: account.created_at,
    };
    store.create_account(&account, &admin).await?;
    let mut cameras = Vec::new();
    for i in 0..CAMERAS {
        let camera = Camera {
            id: Uuid::new_v4(),
            account_id: account.id,
            name: format!("camera {i}"),
            created_at: account.created_at,
            last_seen_at: None,
            uploads: 0,
            last_snapshot_id: None,
            last_snapshot_at: None,
            snapshots_last_hour: 0,
            deduplicated: 0,
            discarded: 0,
            live_suid: None,
            only_person: false,
        };
        store.create_camera(&camera, "unused").await?;
        cameras.push(camera.id);
    }

    let snapshots = detections.div_ceil(PER_SNAPSHOT);
    let started = Instant::now();
    seed(&url, account.id, &cameras, snapshots, detections).await?;
    let seed_seconds = started.elapsed().as_secs_f64();

    let end_ms = START_MS + i64::try_from(snapshots)? * EVERY_SECS * 1000 / CAMERAS as i64;
    let day = chrono::Duration::days(1);
    let end = chrono::DateTime::from_timestamp_millis(end_ms).context("time out of range")?;
    let kinds: Vec<(&'static str, SnapshotSearch)> = vec![
        (
            "common label (person)",
            search(account.id, &["person"], None),
        ),
        (
            "rare label (cell phone)",
            search(account.id, &["cell phone"], None),
        ),
        (
            "two labels (bag)",
            search(account.id, &["backpack", "handbag"], None),
        ),
        (
            "one camera (cup)",
            search(account.id, &["cup"], Some(cameras[1])),
        ),
        ("last day (person)", {
            let mut q = search(account.id, &["person"], None);
            q.since = Some(end - day);
            q
        }),
        ("a day two days ago (dog)", {
            let mut q = search(account.id, &["dog"], None);
            q.since = Some(end - day * 3);
            q.until = Some(end - day * 2);
            q
        }),
        (
            "label never stored (keys)",
            search(account.id, &["keys"], None),
        ),
    ];
    let mut all = Vec::new();
    let mut figures = Vec::new();
    for (name, q) in &kinds {
        // One warm-up run: the first read of a label pages its index in.
        let found = store.search_snapshots(q).await?.len();
        let mut samples = Vec::with_capacity(queries);
        for _ in 0..queries {
            let t = Instant::now();
            store.search_snapshots(q).await?;
            samples.push(t.elapsed());
        }
        all.extend_from_slice(&samples);
        figures.push(QueryFigures {
            query: name,
            p50_ms: percentile_ms(&mut samples, 0.50),
            p99_ms: percentile_ms(&mut samples, 0.99),
            results: found,
        });
    }
    let p99 = percentile_ms(&mut all, 0.99);
    Ok(SearchReport {
        detections,
        snapshots,
        seed_seconds: (seed_seconds * 10.0).round() / 10.0,
        queries_per_kind: queries,
        p50_ms: percentile_ms(&mut all, 0.50),
        p99_ms: p99,
        target_p99_ms: 10.0,
        target_met: p99 < 10.0,
        kinds: figures,
    })
}

fn search(account: AccountId, labels: &[&str], camera: Option<Uuid>) -> SnapshotSearch {
    SnapshotSearch {
        account_id: account,
        labels: labels.iter().map(|l| (*l).to_owned()).collect(),
        camera_id: camera,
        since: None,
        until: None,
        limit: 20,
    }
}

fn percentile_ms(samples: &mut [Duration], q: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_unstable();
    let i = ((samples.len() as f64 - 1.0) * q).round() as usize;
    (samples[i].as_secs_f64() * 1e5).round() / 100.0
}

/// Writes the synthetic history in a few statements inside SQLite (row by row through the
/// store would take minutes for a million rows and measure nothing of interest).
async fn seed(
    url: &str,
    account: AccountId,
    cameras: &[Uuid],
    snapshots: u64,
    detections: u64,
) -> anyhow::Result<()> {
    let options = SqliteConnectOptions::from_str(url)?;
    let pool = sqlx::SqlitePool::connect_with(options).await?;
    let mut tx = pool.begin().await?;
    sqlx::query("CREATE TEMP TABLE bench_cameras (i INTEGER PRIMARY KEY, id TEXT NOT NULL)")
        .execute(&mut *tx)
        .await?;
    for (i, id) in cameras.iter().enumerate() {
        sqlx::query("INSERT INTO bench_cameras (i, id) VALUES ($1, $2)")
            .bind(i64::try_from(i)?)
            .bind(id.to_string())
            .execute(&mut *tx)
            .await?;
    }
    // 80 COCO labels; a detection is a person 40 % of the time, else any label.
    sqlx::query("CREATE TEMP TABLE bench_labels (i INTEGER PRIMARY KEY, label TEXT NOT NULL)")
        .execute(&mut *tx)
        .await?;
    for (i, label) in switchboard_vision::labels::coco80().iter().enumerate() {
        sqlx::query("INSERT INTO bench_labels (i, label) VALUES ($1, $2)")
            .bind(i64::try_from(i)?)
            .bind(label)
            .execute(&mut *tx)
            .await?;
    }
    let n_cameras = i64::try_from(cameras.len())?;
    sqlx::query(
        "INSERT INTO snapshots (id, camera_id, account_id, taken_at, received_at, bytes, jpeg, state) \
         WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i + 1 < $1) \
         SELECT printf('00000000-0000-4000-8000-%012d', n.i), c.id, $2, \
                $3 + n.i * $4 / $5, $3 + n.i * $4 / $5 + 300, 40000, x'FFD8FFD9', 'done' \
         FROM n JOIN bench_cameras c ON c.i = n.i % $5",
    )
    .bind(i64::try_from(snapshots)?)
    .bind(account.to_string())
    .bind(START_MS)
    .bind(EVERY_SECS * 1000)
    .bind(n_cameras)
    .execute(&mut *tx)
    .await?;
    // Detection k belongs to snapshot k / 4; a random number picks its label and confidence.
    sqlx::query(
        "INSERT INTO detections (snapshot_id, account_id, camera_id, label, confidence, x, y, w, h, taken_at) \
         WITH RECURSIVE n(k) AS (SELECT 0 UNION ALL SELECT k + 1 FROM n WHERE k + 1 < $1), \
         h(k, v) AS MATERIALIZED (SELECT k, abs(random() % 1000000007) FROM n) \
         SELECT printf('00000000-0000-4000-8000-%012d', h.k / $2), s.account_id, s.camera_id, \
                CASE WHEN h.v % 10 < 4 THEN 'person' ELSE l.label END, \
                0.25 + (h.v % 70) / 100.0, 0.1, 0.2, 0.3, 0.4, s.taken_at \
         FROM h JOIN bench_labels l ON l.i = (h.v / 10) % 80 \
         JOIN snapshots s ON s.id = printf('00000000-0000-4000-8000-%012d', h.k / $2)",
    )
    .bind(i64::try_from(detections)?)
    .bind(i64::try_from(PER_SNAPSHOT)?)
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    let (stored,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM detections")
        .fetch_one(&pool)
        .await?;
    anyhow::ensure!(
        u64::try_from(stored)? == detections,
        "the bench history has {stored} detections, not {detections}"
    );
    sqlx::query("ANALYZE").execute(&pool).await?;
    pool.close().await;
    Ok(())
}
