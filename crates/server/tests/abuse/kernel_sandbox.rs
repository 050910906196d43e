//! A compute cell is code from anyone with an account. From `POST /api/v1/execute` it tries
//! to reach the host's services through their Unix sockets, to hold more memory, processes
//! and disk than one kernel may by spreading over many processes and files, and one account
//! tries to take every kernel of the node.

use crate::expect::expect_error;
use crate::helpers::{TestApp, spawn_app_with};
use futures::future::join_all;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;
use switchboard_server::config::Config;

/// How long a run may take on a loaded 2-core machine.
const PATIENCE: Duration = Duration::from_secs(120);

async fn kernel_app(tweak: impl FnOnce(&mut Config)) -> TestApp {
    spawn_app_with(|c| {
        c.kernels.kernels_enabled = Some(true);
        tweak(c);
    })
    .await
}

/// Runs `code` on a fresh kernel through `POST /api/v1/execute`; returns the answer.
async fn execute(app: &TestApp, token: &str, code: &str) -> Value {
    let resp = app
        .http
        .post(app.url("/execute"))
        .bearer_auth(token)
        .json(&json!({"code": code, "timeout": 90}))
        .timeout(PATIENCE)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.json().await.unwrap()
}

/// What a run printed on stdout.
fn stdout(answer: &Value) -> String {
    answer["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["output_type"] == "stream" && o["name"] == "stdout")
        .filter_map(|o| o["text"].as_str())
        .collect()
}

/// `label: result` lines.
fn results(answer: &Value) -> Vec<(String, String)> {
    stdout(answer)
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
}

#[tokio::test]
async fn a_cell_cannot_reach_the_hosts_unix_sockets() {
    let app = kernel_app(|_| {}).await;
    let token = app.signup("socket-prober").await;
    // A socket anyone may connect to in a folder anyone may enter: only the kernel's own
    // filesystem view keeps it out.
    let open_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(open_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let open_path = open_dir.path().join("open.sock");
    let open = std::os::unix::net::UnixListener::bind(&open_path).unwrap();
    std::fs::set_permissions(&open_path, std::fs::Permissions::from_mode(0o777)).unwrap();
    open.set_nonblocking(true).unwrap();

    let mut targets: Vec<(String, String)> = [
        ("postgresql", "/var/run/postgresql/.s.PGSQL.5432"),
        ("postgresql-run", "/run/postgresql/.s.PGSQL.5432"),
        ("mariadb", "/run/mysqld/mysqld.sock"),
        ("mariadb-var", "/var/run/mysqld/mysqld.sock"),
        ("dbus", "/run/dbus/system_bus_socket"),
    ]
    .into_iter()
    .filter(|(_, path)| std::path::Path::new(path).exists())
    .map(|(l, p)| (l.to_owned(), p.to_owned()))
    .collect();
    eprintln!("host sockets tried: {targets:?}");
    targets.push(("open".into(), open_path.display().to_string()));
    let mut code = String::from(
        "import os, socket\ndef attempt(label, path):\n    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n    s.settimeout(2)\n    try:\n        s.connect(path)\n        print(label + ': connected')\n    except OSError as e:\n        print(label + ': ' + type(e).__name__)\n    finally:\n        s.close()\n",
    );
    for (label, path) in &targets {
        code.push_str(&format!("attempt({label:?}, {path:?})\n"));
    }
    code.push_str(&format!(
        "for label, path in [('list run', '/run'), ('list var run', '/var/run'), ('list kernels', {kernels:?})]:\n    try:\n        print(label + ': ' + repr(sorted(os.listdir(path))))\n    except OSError as e:\n        print(label + ': ' + type(e).__name__)\n",
        kernels = app.config.operations.data_dir.join("k"),
    ));
    let answer = execute(&app, &token, &code).await;
    // The kernel ran the code and answered over its own ZeroMQ sockets.
    assert_eq!(answer["status"], "ok", "{answer}");
    let results = results(&answer);
    assert_eq!(results.len(), targets.len() + 3, "{answer}");
    for (label, result) in &results {
        if label.starts_with("list kernels") {
            // The way to its own folder at most; never another kernel's.
            assert!(
                result == "PermissionError" || result.matches('\'').count() <= 2,
                "{label}: {result}"
            );
        } else {
            assert!(
                matches!(result.as_str(), "FileNotFoundError" | "PermissionError"),
                "{label}: {result}"
            );
        }
    }
    assert!(open.accept().is_err(), "nothing reached the open socket");
}

#[tokio::test]
async fn a_kernels_children_together_stay_within_its_memory() {
    let app = kernel_app(|c| c.kernels.kernel_memory_total = bytesize::ByteSize::mib(512)).await;
    let token = app.signup("memory-hog").await;
    // Six children of 300 MiB each: 1.8 GiB, where one kernel may hold 512 MiB in all.
    let code = "import os, time\nkids = []\nfor i in range(6):\n    pid = os.fork()\n    if pid == 0:\n        try:\n            data = b'x' * (300 << 20)\n            time.sleep(3)\n        finally:\n            os._exit(0)\n    kids.append(pid)\nkilled = 0\nfor pid in kids:\n    _, status = os.waitpid(pid, 0)\n    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == 9:\n        killed += 1\nprint('killed:', killed)";
    let answer = execute(&app, &token, code).await;
    if answer["status"] == "ok" {
        let killed: usize = results(&answer)
            .iter()
            .find(|(l, _)| l == "killed")
            .and_then(|(_, n)| n.parse().ok())
            .unwrap_or_else(|| panic!("{answer}"));
        assert!(killed >= 5, "at most one child held its 300 MiB: {answer}");
    } else {
        // The kernel itself was the one killed: the run says so.
        let text = answer.to_string();
        assert!(text.contains("memory limit"), "{answer}");
    }
    // The server and the next kernel are fine.
    let next = execute(&app, &token, "print('fine')").await;
    assert_eq!(stdout(&next), "fine\n", "{next}");
}

#[tokio::test]
async fn a_fork_bomb_stays_within_the_kernels_process_limit() {
    let app = kernel_app(|c| c.kernels.kernel_processes = 48).await;
    let token = app.signup("fork-bomber").await;
    let code = "import os, time\nkids = []\nerror = None\ntry:\n    for i in range(10000):\n        pid = os.fork()\n        if pid == 0:\n            time.sleep(30)\n            os._exit(0)\n        kids.append(pid)\nexcept OSError as e:\n    error = type(e).__name__\nfor pid in kids:\n    os.kill(pid, 9)\n    os.waitpid(pid, 0)\nprint('forks:', len(kids))\nprint('error:', error)";
    let answer = execute(&app, &token, code).await;
    let results = results(&answer);
    let get = |label: &str| {
        results
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{label}: {answer}"))
    };
    assert_eq!(get("error"), "BlockingIOError", "{answer}");
    assert!(get("forks").parse::<usize>().unwrap() < 48, "{answer}");
    let next = execute(&app, &token, "print('fine')").await;
    assert_eq!(stdout(&next), "fine\n", "{next}");
}

#[tokio::test]
async fn a_kernels_files_stay_within_its_folder_limit() {
    let app = kernel_app(|c| c.kernels.kernel_disk = bytesize::ByteSize::mib(64)).await;
    let token = app.signup("disk-filler").await;
    let code = "import os, errno\ndef fill(name, size):\n    try:\n        with open(name, 'wb') as f:\n            f.write(b'\\1' * size)\n        return 'ok'\n    except OSError as e:\n        return errno.errorcode[e.errno]\nprint('big:', ' '.join(fill(f'big{i}.bin', 40 << 20) for i in range(3)))\nfor i in range(3):\n    if os.path.exists(f'big{i}.bin'):\n        os.remove(f'big{i}.bin')\ncount, error = 0, None\ntry:\n    while count < 100000:\n        open(f'f{count}', 'w').close()\n        count += 1\nexcept OSError as e:\n    error = errno.errorcode[e.errno]\nprint('many:', error)\nfor i in range(count):\n    os.remove(f'f{i}')\nopen('kept.txt', 'w').write('still stored')";
    let answer = execute(&app, &token, code).await;
    let results = results(&answer);
    assert!(
        results.contains(&("big".into(), "ok ENOSPC ENOSPC".into())),
        "{answer}"
    );
    assert!(
        results.contains(&("many".into(), "ENOSPC".into())),
        "{answer}"
    );
    // The cell's file collection still finds what the kernel wrote in its folder.
    assert_eq!(answer["files"][0]["name"], "kept.txt", "{answer}");
    assert_eq!(answer["files"][0]["size"], 12, "{answer}");
}

async fn start_kernel(app: &TestApp, token: &str) -> reqwest::Response {
    app.http
        .post(format!("http://{}/api/kernels", app.addr))
        .header("authorization", format!("token {token}"))
        .json(&json!({"name": "python3"}))
        .timeout(PATIENCE)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn one_account_cannot_take_every_kernel_of_a_node_by_default() {
    let defaults = Config::default();
    let app = kernel_app(|c| {
        c.kernels.max_kernels = defaults.kernels.max_kernels;
        c.kernels.kernels_per_user = defaults.kernels.kernels_per_user;
        c.kernels.kernels_per_account = defaults.kernels.kernels_per_account;
        c.kernels.kernel_account_share = defaults.kernels.kernel_account_share;
    })
    .await;
    let share = app.config.kernels_per_account_here();
    assert!(
        share < app.config.kernels.max_kernels,
        "the default leaves room"
    );
    let admin = app.signup("greedy").await;
    let mut members = vec![admin.clone()];
    for i in 0..share.div_ceil(app.config.kernels.kernels_per_user) {
        members.push(app.join_account(&admin, &format!("greedy-{i}")).await);
    }
    // Every member of the account starts as many kernels as one user may, all at once.
    let app_ref = &app;
    let starts: Vec<_> = members
        .iter()
        .flat_map(|token| std::iter::repeat_n(token, app.config.kernels.kernels_per_user))
        .map(|token| start_kernel(app_ref, token))
        .collect();
    let answers = join_all(starts).await;
    let mut started = 0;
    for resp in answers {
        match resp.status() {
            StatusCode::CREATED => started += 1,
            StatusCode::TOO_MANY_REQUESTS => {
                expect_error(resp, StatusCode::TOO_MANY_REQUESTS, "too_many_kernels").await;
            }
            other => panic!("{other}: {}", resp.text().await.unwrap()),
        }
    }
    assert_eq!(started, share, "the account got its share and no more");
    // Another tenant still gets a kernel on this node.
    let other = app.signup("modest").await;
    let resp = start_kernel(&app, &other).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
}
