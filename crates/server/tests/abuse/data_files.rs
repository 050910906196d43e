//! What another user of the machine can read: the data directory is 0700 and the files the
//! node makes in it 0600 (the database with its `-wal` and `-shm`, the token secret, CDR
//! files); a directory an older release left open is tightened.

use crate::helpers::spawn_app_with;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

#[tokio::test]
async fn the_data_directory_and_its_files_are_private() {
    let app =
        spawn_app_with(|c| c.operations.data_dir = c.operations.data_dir.join("fresh/data")).await;
    let dir = app.config.operations.data_dir.clone();
    // A session that ends writes its CDR file.
    let user = app.signup("private.eye").await;
    let session = app.create_session(&user).await;
    let suid = session["suid"].as_str().unwrap();
    let resp = app
        .http
        .delete(app.url(&format!("/sessions/{suid}")))
        .bearer_auth(&user)
        .send()
        .await
        .unwrap();
    assert!(resp.status().is_success());
    app.until_ended(&user, suid).await;
    // The CDR line is written before the end is announced.
    let cdr_dir = dir.join("cdr");
    let cdr_file = std::fs::read_dir(&cdr_dir)
        .unwrap()
        .next()
        .expect("a CDR file")
        .unwrap()
        .path();

    assert_eq!(mode(&dir), 0o700, "the data directory");
    for name in [
        "switchboard.db",
        "switchboard.db-wal",
        "switchboard.db-shm",
        "jwt-secret",
    ] {
        assert_eq!(mode(&dir.join(name)), 0o600, "{name}");
    }
    assert_eq!(mode(&cdr_dir), 0o700, "the CDR folder");
    assert_eq!(mode(&cdr_file), 0o600, "{}", cdr_file.display());
}

#[tokio::test]
async fn an_open_data_directory_and_database_are_tightened_at_start() {
    let app = spawn_app_with(|c| {
        let dir = c.operations.data_dir.join("old");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        // An empty file is an empty SQLite database; an older release left it 0644.
        let db = dir.join("switchboard.db");
        std::fs::write(&db, b"").unwrap();
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
        c.operations.data_dir = dir;
    })
    .await;
    let dir = app.config.operations.data_dir.clone();
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("switchboard.db")), 0o600);
    app.signup("still.works").await;
}

#[tokio::test]
async fn a_self_signed_certificates_folder_and_key_are_private() {
    let app = spawn_app_with(|c| c.network.tls_self_signed = true).await;
    let tls = app.config.operations.data_dir.join("tls");
    assert_eq!(mode(&tls), 0o700, "the TLS folder");
    let key = std::fs::read_dir(&tls)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().contains("key"))
        .expect("a key file");
    assert_eq!(mode(&key), 0o600, "{}", key.display());
}
