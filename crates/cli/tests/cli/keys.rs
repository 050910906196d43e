//! `switchboard admin keys`: rotating an account's data key and the master key on the
//! database, with the server stopped, and reading which keys seal what.

use crate::support::BIN;
use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn admin(data: &Path, key: &Path, args: &[&str], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.arg("admin")
        .args(args)
        .arg("--data-dir")
        .arg(data)
        .arg("--master-key-file")
        .arg(key)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("SWITCHBOARD_") {
            cmd.env_remove(name);
        }
    }
    let mut child = cmd.spawn().unwrap();
    if let Some(text) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

fn ok(out: Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn keys_rotate_per_account_and_for_the_master_key_then_show_their_use() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let key = dir.path().join("master-key");
    std::fs::write(&key, rand_key()).unwrap();
    let original = std::fs::read(&key).unwrap();
    ok(admin(
        &data,
        &key,
        &[
            "create-user",
            "--username",
            "keys.admin",
            "--account",
            "Clinic",
            "--admin",
            "--password-stdin",
        ],
        Some("quiet lantern orbit mosaic\n"),
    ));

    // The account's first data key, then its second.
    let said = ok(admin(
        &data,
        &key,
        &["keys", "rotate", "--account", "Clinic"],
        None,
    ));
    assert!(said.contains("version 1"), "{said}");
    let said = ok(admin(
        &data,
        &key,
        &["keys", "rotate", "--account", "Clinic"],
        None,
    ));
    assert!(said.contains("version 2"), "{said}");
    let status: Value =
        serde_json::from_str(&ok(admin(&data, &key, &["keys", "status", "--json"], None))).unwrap();
    assert_eq!(status[0]["account"], "Clinic");
    assert_eq!(status[0]["versions"], serde_json::json!([1, 2]));

    // The master key: a new file, the old one kept beside it, the data keys re-wrapped.
    let said = ok(admin(&data, &key, &["keys", "rotate"], None));
    assert!(said.contains("2 data keys re-wrapped"), "{said}");
    let old = dir.path().join("master-key.old");
    assert_eq!(std::fs::read(&old).unwrap(), original);
    assert_ne!(std::fs::read(&key).unwrap(), original);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // The new key works for the next rotation; the old one no longer does.
    let said = ok(admin(
        &data,
        &key,
        &["keys", "rotate", "--account", "Clinic"],
        None,
    ));
    assert!(said.contains("version 3"), "{said}");
    let refused = admin(&data, &old, &["keys", "rotate"], None);
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not rotated"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}

/// 32 bytes that differ from run to run.
fn rand_key() -> Vec<u8> {
    let seed = uuid::Uuid::new_v4();
    let more = uuid::Uuid::new_v4();
    [seed.as_bytes().as_slice(), more.as_bytes().as_slice()].concat()
}
