//! Encryption at rest: pictures and cell files are stored sealed with their account's data
//! key and served plain; plain objects of earlier releases are read, then sealed in the
//! background; a wrong master key stops the start; an account rotation moves objects to a
//! new key; deleting an account leaves nothing of it decryptable, not even in a backup.

use crate::helpers::{PASSWORD, TestApp, eventually, holds, jpeg, spawn_app_with};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::time::Duration;
use switchboard_core::{AccountId, UserId};
use switchboard_seal as blob;
use switchboard_server::vault::master_key::MasterKey;
use switchboard_server::vault::{Object, keyring, rotation};
use switchboard_server::{Config, Server};
use switchboard_store::{Cell, NewSnapshot, Stale, Store, StoredBlob};
use uuid::Uuid;

/// Stores snapshots without running a detector (nothing here is about detection).
fn without_detector(c: &mut Config) {
    c.cameras.detector_model = Some(PathBuf::from("/nonexistent/model.onnx"));
}

async fn upload(app: &TestApp, camera: &str, token: &str, jpeg: &[u8]) -> Value {
    let resp = app
        .http
        .post(app.url(&format!("/cameras/{camera}/snapshots")))
        .bearer_auth(token)
        .header("content-type", "image/jpeg")
        .body(jpeg.to_vec())
        .send()
        .await
        .unwrap();
    // 202: stored, detection pending (no detector here).
    assert!(resp.status().is_success(), "upload: {}", resp.status());
    resp.json().await.unwrap()
}

async fn get(app: &TestApp, token: &str, path: &str) -> reqwest::Response {
    app.http
        .get(format!("http://{}{path}", app.addr))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

async fn account_of(app: &TestApp, token: &str) -> (AccountId, UserId) {
    let me = app.me(token).await;
    (
        me["account_id"].as_str().unwrap().parse().unwrap(),
        me["id"].as_str().unwrap().parse().unwrap(),
    )
}

/// Whether 64 bytes from the middle of `needle` (past headers every JPEG shares) occur
/// anywhere in `haystack`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let len = needle.len().min(64);
    let start = (needle.len() - len) / 2;
    let probe = &needle[start..start + len];
    haystack.windows(probe.len()).any(|w| w == probe)
}

fn master_key_path(app: &TestApp) -> PathBuf {
    app.dir.path().join("master-key")
}

/// A stored cell of `user` with one file, sealed as the node seals the files of runs.
async fn cell_with_file(app: &TestApp, account: AccountId, user: UserId, content: &[u8]) -> Uuid {
    let cell = Cell {
        id: Uuid::new_v4(),
        permalink: format!("c{}", &Uuid::new_v4().simple().to_string()[..10]),
        account_id: account,
        owner: user,
        kernel: "python3".into(),
        code: "open('notes.txt', 'w').write('…')".into(),
        created_at: chrono::Utc::now(),
    };
    app.store.create_cell(&cell).await.unwrap();
    let object = Object::CellFile {
        cell: cell.id,
        name: "notes.txt",
    };
    let sealed = app.app.vault.seal(account, object, content).await.unwrap();
    app.store
        .put_cell_file(
            cell.id,
            "notes.txt",
            &sealed,
            content.len() as u64,
            chrono::Utc::now(),
            10,
        )
        .await
        .unwrap();
    cell.id
}

#[tokio::test]
async fn snapshots_are_stored_sealed_and_served_as_uploaded() {
    let app = spawn_app_with(without_detector).await;
    let user = app.signup("sealed.owner").await;
    let (camera, camera_token) = app.create_camera(&user, "porch").await;
    let picture = jpeg(7).to_vec();
    let up = upload(&app, &camera, &camera_token, &picture).await;
    let id: Uuid = up["id"].as_str().unwrap().parse().unwrap();
    let (account, _) = account_of(&app, &user).await;

    let stored = app.store.snapshot_jpeg(account, id).await.unwrap();
    assert_eq!(stored.key_version, Some(1));
    assert_eq!(&stored.bytes[..3], b"SB\x01", "the sealed format");
    assert_eq!(stored.bytes.len(), picture.len() + blob::OVERHEAD);
    assert!(!contains(&stored.bytes, &picture), "no plain bytes stored");

    let served = get(&app, &user, &format!("/api/v1/snapshots/{id}.jpg")).await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.bytes().await.unwrap().to_vec(), picture);
    let thumb = get(&app, &user, &format!("/api/v1/snapshots/{id}/thumb.jpg")).await;
    assert_eq!(thumb.status(), StatusCode::OK);
    let info: Value = get(&app, &user, &format!("/api/v1/snapshots/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        info["bytes"],
        picture.len(),
        "the picture's size, not the blob's"
    );

    // The master key was made on first start, private to the node's user.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(master_key_path(&app))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}

#[tokio::test]
async fn cell_files_are_stored_sealed_and_served_as_written() {
    let app = spawn_app_with(without_detector).await;
    let user = app.signup("cell.sealer").await;
    let (account, user_id) = account_of(&app, &user).await;
    let content = b"results: 42 patients, 17 sites, nothing else to see here".to_vec();
    let cell = cell_with_file(&app, account, user_id, &content).await;

    let (_, stored) = app.store.cell_file(cell, "notes.txt").await.unwrap();
    assert_eq!(stored.key_version, Some(1));
    assert!(!contains(&stored.bytes, &content));
    let served = get(
        &app,
        &user,
        &format!("/api/v1/cells/{cell}/files/notes.txt"),
    )
    .await;
    assert_eq!(served.status(), StatusCode::OK);
    assert_eq!(served.bytes().await.unwrap().to_vec(), content);
}

#[tokio::test]
async fn plain_objects_of_an_earlier_release_are_read_then_sealed_in_the_background() {
    // Started first as a node that stores plain, as earlier releases did.
    let mut app = spawn_app_with(|c| {
        without_detector(c);
        c.operations.encrypt_at_rest = false;
    })
    .await;
    let user = app.signup("old.release").await;
    let (camera, _) = app.create_camera(&user, "yard").await;
    let (account, user_id) = account_of(&app, &user).await;
    let picture = jpeg(3).to_vec();
    let now = chrono::Utc::now();
    let plain_snapshot = Uuid::new_v4();
    // Through the store directly, exactly as an older release wrote rows.
    app.store
        .insert_snapshot(&NewSnapshot {
            id: plain_snapshot,
            camera_id: camera.parse().unwrap(),
            account_id: account,
            taken_at: now,
            received_at: now,
            jpeg: picture.clone(),
            size: picture.len() as u64,
            key_version: None,
        })
        .await
        .unwrap();
    let content = b"an old file of an old run".to_vec();
    let cell = cell_with_file(&app, account, user_id, &content).await;
    assert_eq!(
        app.store
            .cell_file(cell, "notes.txt")
            .await
            .unwrap()
            .1
            .key_version,
        None,
        "encryption off stores plain"
    );
    let image = format!("/api/v1/snapshots/{plain_snapshot}.jpg");
    let file = format!("/api/v1/cells/{cell}/files/notes.txt");
    assert_eq!(
        get(&app, &user, &image).await.bytes().await.unwrap(),
        picture
    );

    // The new release starts: the plain rows are read as they are, and sealed meanwhile.
    app.stop().await;
    app.config.operations.encrypt_at_rest = true;
    let app = app.restart().await;
    let login: Value = app
        .http
        .post(app.url("/auth/login"))
        .json(&json!({"username": "old.release", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user = login["token"].as_str().unwrap().to_owned();
    assert_eq!(
        get(&app, &user, &image).await.bytes().await.unwrap(),
        picture
    );
    eventually(
        "the plain rows are sealed",
        Duration::from_secs(30),
        || async {
            let snapshot = app
                .store
                .snapshot_jpeg(account, plain_snapshot)
                .await
                .unwrap();
            let (_, stored) = app.store.cell_file(cell, "notes.txt").await.unwrap();
            holds(
                snapshot.key_version.is_some() && stored.key_version.is_some(),
                format!("{:?} / {:?}", snapshot.key_version, stored.key_version),
            )
        },
    )
    .await;
    let snapshot = app
        .store
        .snapshot_jpeg(account, plain_snapshot)
        .await
        .unwrap();
    assert!(!contains(&snapshot.bytes, &picture));
    assert_eq!(
        get(&app, &user, &image).await.bytes().await.unwrap(),
        picture
    );
    assert_eq!(
        get(&app, &user, &file).await.bytes().await.unwrap(),
        content
    );
    // Nothing is left to do.
    let again = app.app.resealer.pass(chrono::Utc::now()).await.unwrap();
    assert_eq!(again, Default::default());
}

async fn start_error(config: &Config) -> String {
    Server::start(config.clone())
        .await
        .map(|_| ())
        .expect_err("the node must not start")
        .to_string()
}

#[tokio::test]
async fn a_wrong_or_missing_master_key_stops_the_start_and_names_the_file() {
    let mut app = spawn_app_with(without_detector).await;
    let user = app.signup("key.keeper").await;
    let (camera, camera_token) = app.create_camera(&user, "gate").await;
    upload(&app, &camera, &camera_token, &jpeg(1)).await;
    app.stop().await;
    let config = app.config.clone();
    let path = master_key_path(&app);
    let right = std::fs::read(&path).unwrap();

    std::fs::write(&path, [7u8; 32]).unwrap();
    let err = start_error(&config).await;
    assert!(
        err.contains(&path.display().to_string()) && err.contains("not the one"),
        "{err}"
    );

    std::fs::remove_file(&path).unwrap();
    let err = start_error(&config).await;
    assert!(
        err.contains(&path.display().to_string()) && err.contains("missing"),
        "{err}"
    );
    assert!(
        !path.exists(),
        "never replaced by a new key while data keys exist"
    );

    // An explicit file is never created.
    let mut explicit = config.clone();
    let elsewhere = app.dir.path().join("elsewhere-key");
    explicit.operations.master_key_file = Some(elsewhere.clone());
    let err = start_error(&explicit).await;
    assert!(err.contains(&elsewhere.display().to_string()), "{err}");
    assert!(!elsewhere.exists());

    std::fs::write(&elsewhere, &right).unwrap();
    Server::start(explicit)
        .await
        .expect("the right key, wherever it is");
}

#[tokio::test]
async fn a_master_key_rotation_rewraps_every_key_and_keeps_the_old_file() {
    let mut app = spawn_app_with(without_detector).await;
    let user = app.signup("rotating.admin").await;
    let (camera, camera_token) = app.create_camera(&user, "hall").await;
    let picture = jpeg(5).to_vec();
    let id = upload(&app, &camera, &camera_token, &picture).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.stop().await;
    let path = master_key_path(&app);
    let before = std::fs::read(&path).unwrap();
    let old = MasterKey::read(&path).unwrap();
    let done = rotation::rotate_master_key(app.store.as_ref(), &old)
        .await
        .unwrap();
    assert_eq!(done.keys, 1);
    assert_ne!(done.new_id, done.old_id);
    assert_eq!(
        std::fs::read(&done.previous).unwrap(),
        before,
        "the old key is kept"
    );
    assert!(
        app.store
            .all_data_keys()
            .await
            .unwrap()
            .iter()
            .all(|k| k.master_key_id == done.new_id)
    );

    let app = app.restart().await;
    let login: Value = app
        .http
        .post(app.url("/auth/login"))
        .json(&json!({"username": "rotating.admin", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let user = login["token"].as_str().unwrap();
    let served = get(&app, user, &format!("/api/v1/snapshots/{id}.jpg")).await;
    assert_eq!(served.bytes().await.unwrap().to_vec(), picture);
}

#[tokio::test]
async fn an_account_rotation_moves_its_objects_then_retires_the_old_key() {
    let app = spawn_app_with(without_detector).await;
    let user = app.signup("rotating.account").await;
    let (camera, camera_token) = app.create_camera(&user, "den").await;
    let (account, user_id) = account_of(&app, &user).await;
    let picture = jpeg(9).to_vec();
    let id: Uuid = upload(&app, &camera, &camera_token, &picture).await["id"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let content = b"file under the first key".to_vec();
    let cell = cell_with_file(&app, account, user_id, &content).await;

    let master = MasterKey::read(&master_key_path(&app)).unwrap();
    let version = rotation::rotate_account_key(app.store.clone(), master, account)
        .await
        .unwrap();
    assert_eq!(version, 2);
    // Before the old version may go, every node must have stopped sealing with it.
    let soon = app.app.resealer.pass(chrono::Utc::now()).await.unwrap();
    assert_eq!((soon.rotated, soon.retired), (2, 0));
    assert_eq!(app.store.data_keys(account).await.unwrap().len(), 2);
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let done = app.app.resealer.pass(later).await.unwrap();
    assert_eq!((done.rotated, done.retired), (0, 1));
    let keys = app.store.data_keys(account).await.unwrap();
    assert_eq!(keys.iter().map(|k| k.version).collect::<Vec<_>>(), [2]);
    assert_eq!(
        app.store
            .snapshot_jpeg(account, id)
            .await
            .unwrap()
            .key_version,
        Some(2)
    );
    let served = get(&app, &user, &format!("/api/v1/snapshots/{id}.jpg")).await;
    assert_eq!(served.bytes().await.unwrap().to_vec(), picture);
    let file = get(
        &app,
        &user,
        &format!("/api/v1/cells/{cell}/files/notes.txt"),
    )
    .await;
    assert_eq!(file.bytes().await.unwrap().to_vec(), content);
}

/// Copies the live SQLite database the way a backup does (consistent, WAL included).
async fn backup(app: &TestApp, to: &Path) {
    use sqlx::Connection;
    let url = app.config.database_url();
    let mut conn = sqlx::SqliteConnection::connect(&url).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "VACUUM INTO '{}'",
        to.display()
    )))
    .execute(&mut conn)
    .await
    .unwrap();
    conn.close().await.unwrap();
}

/// Every way the live node could open `blob` of `account`'s object: each data key the live
/// database still holds, unwrapped with the master key.
async fn opens_with_a_live_key(
    live: &dyn Store,
    master: &MasterKey,
    account: AccountId,
    object: Object<'_>,
    stored: &[u8],
) -> bool {
    for wrapped in live.all_data_keys().await.unwrap() {
        let key = keyring::unwrap(master, &wrapped).unwrap();
        for record_account in [account, wrapped.account_id] {
            let record = object.record(record_account);
            if blob::open(&key, wrapped.version, &record, stored).is_ok() {
                return true;
            }
        }
    }
    false
}

#[tokio::test]
async fn deleting_an_account_leaves_nothing_of_it_decryptable_even_in_a_backup() {
    let app = spawn_app_with(without_detector).await;
    let doomed = app.signup("doomed.admin").await;
    let kept = app.signup("kept.admin").await;
    let (account, user_id) = account_of(&app, &doomed).await;
    let (camera, camera_token) = app.create_camera(&doomed, "ward").await;
    let (kept_camera, kept_camera_token) = app.create_camera(&kept, "lobby").await;
    let pictures: Vec<Vec<u8>> = (10..13).map(|n| jpeg(n).to_vec()).collect();
    for picture in &pictures {
        upload(&app, &camera, &camera_token, picture).await;
    }
    let kept_picture = jpeg(20).to_vec();
    let kept_id = upload(&app, &kept_camera, &kept_camera_token, &kept_picture).await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let content = b"the doomed account's confidential notes, long enough to search for".to_vec();
    cell_with_file(&app, account, user_id, &content).await;

    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("backup.db");
    backup(&app, &copy).await;

    let resp = app
        .http
        .delete(app.url("/account"))
        .bearer_auth(&doomed)
        .json(&json!({ "password": PASSWORD }))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    // Its users are signed out, its keys gone; the other account is untouched.
    let me = app
        .http
        .get(app.url("/me"))
        .bearer_auth(&doomed)
        .send()
        .await
        .unwrap();
    assert_eq!(me.status(), StatusCode::UNAUTHORIZED);
    assert!(app.store.data_keys(account).await.unwrap().is_empty());
    let served = get(&app, &kept, &format!("/api/v1/snapshots/{kept_id}.jpg")).await;
    assert_eq!(served.bytes().await.unwrap().to_vec(), kept_picture);

    // The backup still holds the account's blobs (and its wrapped key: rotate the master
    // key after a deletion to make those useless too)…
    let restored = switchboard_store::connect(&format!("sqlite://{}", copy.display()))
        .await
        .unwrap();
    assert_eq!(restored.data_keys(account).await.unwrap().len(), 1);
    let everything = Stale::Below {
        account,
        version: u32::MAX,
    };
    let snapshots = restored.stale_snapshots(everything, "", 100).await.unwrap();
    let files = restored
        .stale_cell_files(everything, &(String::new(), String::new()), 100)
        .await
        .unwrap();
    assert_eq!((snapshots.len(), files.len()), (3, 1));
    // …none of which opens with any key the live database and the master key still have.
    let master = MasterKey::read(&master_key_path(&app)).unwrap();
    for snapshot in &snapshots {
        assert!(snapshot.key_version.is_some());
        assert!(
            !opens_with_a_live_key(
                app.store.as_ref(),
                &master,
                account,
                Object::Snapshot(snapshot.id),
                &snapshot.jpeg
            )
            .await
        );
        assert!(!pictures.iter().any(|p| contains(&snapshot.jpeg, p)));
    }
    for file in &files {
        let object = Object::CellFile {
            cell: file.cell_id,
            name: &file.name,
        };
        assert!(
            !opens_with_a_live_key(app.store.as_ref(), &master, account, object, &file.content)
                .await
        );
        assert!(!contains(&file.content, &content));
    }
    // Nor do the raw files hold a plain picture or the file anywhere.
    let raw = std::fs::read(&copy).unwrap();
    assert!(!pictures.iter().any(|p| contains(&raw, p)));
    assert!(!contains(&raw, &content));
    // The live database's files keep no trace of the destroyed key either (deleted rows are
    // zeroed, and the write-ahead log that held its older pages is cleared).
    let destroyed = restored.data_keys(account).await.unwrap().remove(0).wrapped;
    let live_path = app.dir.path().join("switchboard.db");
    for path in [
        live_path.clone(),
        PathBuf::from(format!("{}-wal", live_path.display())),
    ] {
        if let Ok(raw) = std::fs::read(&path) {
            assert!(
                !pictures.iter().any(|p| contains(&raw, p)),
                "{}",
                path.display()
            );
            assert!(!contains(&raw, &content), "{}", path.display());
            assert!(
                !contains(&raw, &destroyed),
                "{} holds the wrapped key",
                path.display()
            );
        }
    }
    // A StoredBlob from the backup served through the live vault is an integrity error.
    let first = &snapshots[0];
    let stored = StoredBlob {
        bytes: first.jpeg.clone(),
        key_version: first.key_version,
    };
    assert!(
        app.app
            .vault
            .open(account, Object::Snapshot(first.id), &stored)
            .await
            .is_err()
    );
}
