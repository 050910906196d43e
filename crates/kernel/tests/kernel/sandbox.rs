//! The sandbox inside real kernels: files, network, process escapes, isolation between
//! kernels, and `Sandbox::Off`.

use std::time::Duration;

use switchboard_kernel::{KernelConfig, Sandbox};

use crate::harness::{config, node, run};

/// Python that runs each `(label, lambda)` and prints `label: ok` or the error class.
fn attempts(cases: &[(&str, &str)]) -> String {
    let mut code = String::from(
        "def attempt(label, f):\n    try:\n        f()\n        print(label + ': ok')\n    except OSError as e:\n        print(label + ': ' + type(e).__name__)\n",
    );
    for (label, lambda) in cases {
        code.push_str(&format!("attempt({label:?}, lambda: {lambda})\n"));
    }
    code
}

fn results(stdout: &str) -> Vec<(String, String)> {
    eprintln!("{stdout}");
    stdout
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(a, b)| (a.to_owned(), b.to_owned()))
        .collect()
}

#[tokio::test]
async fn kernels_never_see_each_others_variables_or_files() {
    let node = node().await;
    let a = node.kernel().await;
    let b = node.kernel().await;
    run(
        &a,
        "secret = 'a-only'\nopen('secret.txt', 'w').write('top secret')",
    )
    .await;
    assert_eq!(run(&b, "secret").await.error().unwrap().0, "NameError");

    let a_home = a.home_dir();
    let a_dir = a.dir();
    let runtime = a_dir.parent().unwrap();
    let code = attempts(&[
        (
            "read",
            &format!("open({:?}).read()", a_home.join("secret.txt")),
        ),
        ("list", &format!("__import__('os').listdir({a_home:?})")),
        (
            "connection",
            &format!("open({:?}).read()", a_dir.join("connection.json")),
        ),
        (
            "write",
            &format!("open({:?}, 'w')", a_home.join("planted.txt")),
        ),
        ("runtime", &format!("__import__('os').listdir({runtime:?})")),
    ]);
    let outcome = run(&b, &code).await;
    // Another kernel's folder is not even in this kernel's view (the runtime folder is, as
    // the way to its own, but Landlock refuses to list it).
    for (label, result) in results(&outcome.stdout()) {
        assert!(
            matches!(result.as_str(), "PermissionError" | "FileNotFoundError"),
            "{label}: {outcome:?}"
        );
    }
    assert_eq!(results(&outcome.stdout()).len(), 5);
    assert!(!a_home.join("planted.txt").exists());
    // A's own file is intact and readable by A.
    assert_eq!(
        run(&a, "print(open('secret.txt').read())").await.stdout(),
        "top secret\n"
    );
}

#[tokio::test]
async fn the_file_system_is_read_only_outside_the_kernels_folder() {
    let node = node().await;
    let kernel = node.kernel().await;
    let manifest = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let outcome = run(
        &kernel,
        &attempts(&[
            ("home write", "open('mine.txt', 'w').write('x')"),
            (
                "tmpdir write",
                "open(__import__('tempfile').mktemp(), 'w').write('x')",
            ),
            ("usr read", "open('/usr/bin/env', 'rb').read(4)"),
            ("tmp write", "open('/tmp/sbk-escape.txt', 'w')"),
            ("usr write", "open('/usr/sbk-escape.txt', 'w')"),
            ("shadow", "open('/etc/shadow').read()"),
            ("server files", &format!("open({manifest:?}).read()")),
            ("root home", "__import__('os').listdir('/root')"),
            ("other proc", "open('/proc/1/environ').read()"),
        ]),
    )
    .await;
    let results = results(&outcome.stdout());
    let expect = |label: &str, want: &str| {
        let got = results
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, r)| r.as_str());
        assert_eq!(got, Some(want), "{label}: {outcome:?}");
    };
    expect("home write", "ok");
    expect("tmpdir write", "ok");
    expect("usr read", "ok");
    for label in [
        "tmp write",
        "usr write",
        "shadow",
        "server files",
        "root home",
        "other proc",
    ] {
        let got = results
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, r)| r.as_str());
        assert!(
            matches!(
                got,
                Some("PermissionError") | Some("OSError") | Some("FileNotFoundError")
            ),
            "{label}: {got:?}"
        );
    }
    assert!(!std::path::Path::new("/tmp/sbk-escape.txt").exists());
}

#[tokio::test]
async fn tcp_and_udp_sockets_cannot_be_opened() {
    let node = node().await;
    let kernel = node.kernel().await;
    let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    tcp.set_nonblocking(true).unwrap();
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let tcp_port = tcp.local_addr().unwrap().port();
    let udp_port = udp.local_addr().unwrap().port();
    let outcome = run(
        &kernel,
        &attempts(&[
            ("tcp4", "__import__('socket').socket(2, 1)"),
            ("udp4", "__import__('socket').socket(2, 2)"),
            ("tcp6", "__import__('socket').socket(10, 1)"),
            ("udp6", "__import__('socket').socket(10, 2)"),
            ("raw", "__import__('socket').socket(17, 3)"),
            ("netlink", "__import__('socket').socket(16, 3)"),
            (
                "connect",
                &format!("__import__('socket').create_connection(('127.0.0.1', {tcp_port}), 2)"),
            ),
            (
                "sendto",
                &format!(
                    "__import__('socket').socket(2, 2).sendto(b'x', ('127.0.0.1', {udp_port}))"
                ),
            ),
            ("unix", "__import__('socket').socket(1, 1).close()"),
        ]),
    )
    .await;
    let results = results(&outcome.stdout());
    assert_eq!(results.len(), 9, "{outcome:?}");
    for (label, result) in &results {
        let want = if label == "unix" { "ok" } else { "denied" };
        let got = if result == "ok" { "ok" } else { "denied" };
        assert_eq!(got, want, "{label}: {result}");
    }
    assert!(tcp.accept().is_err(), "no TCP connection arrived");
    let mut buf = [0u8; 16];
    assert!(udp.recv(&mut buf).is_err(), "no UDP datagram arrived");
}

#[tokio::test]
async fn kernels_cannot_leave_their_process_group_or_signal_outsiders() {
    let node = node().await;
    let kernel = node.kernel().await;
    let me = std::process::id();
    let outcome = run(
        &kernel,
        &attempts(&[
            ("setsid", "__import__('os').setsid()"),
            ("setpgid", "__import__('os').setpgid(0, 0)"),
            ("signal server", &format!("__import__('os').kill({me}, 0)")),
            ("signal init", "__import__('os').kill(1, 0)"),
        ]),
    )
    .await;
    let results = results(&outcome.stdout());
    assert_eq!(results.len(), 4, "{outcome:?}");
    for (label, result) in results {
        assert_eq!(result, "PermissionError", "{label}");
    }
}

#[tokio::test]
async fn sandbox_off_must_be_chosen_and_then_nothing_is_confined() {
    let node = node().await;
    let config = KernelConfig {
        sandbox: Sandbox::Off,
        ..config()
    };
    let kernel = node.kernel_with(&config).await;
    assert!(kernel.sandbox_report().is_none());
    let outside = tempfile::tempdir().unwrap();
    let file = outside.path().join("written-by-kernel.txt");
    let outcome = run(
        &kernel,
        &format!("open({file:?}, 'w').write('x')\nimport os\nos.getuid()"),
    )
    .await;
    assert_eq!(
        outcome.text_result(),
        Some(nix::unistd::getuid().as_raw().to_string().as_str())
    );
    assert!(file.exists());
}

/// Each layer alone, with the kernel staying root so file permissions prove nothing.
#[tokio::test]
async fn each_sandbox_layer_holds_on_its_own() {
    use switchboard_kernel::{Layer, RunAs, SandboxConfig};
    let node = node().await;
    let only = |landlock, seccomp, namespaces| KernelConfig {
        sandbox: Sandbox::Enforce(SandboxConfig {
            landlock,
            seccomp,
            namespaces,
            cgroups: Layer::IfAvailable,
            run_as: RunAs::Unchanged,
            extra_read_paths: Vec::new(),
        }),
        ..config()
    };

    // Landlock alone: root, yet it cannot read another kernel's files or write /tmp.
    let other = node.kernel().await;
    run(&other, "open('secret.txt', 'w').write('s')").await;
    let landlock = node
        .kernel_with(&only(Layer::Require, Layer::Off, Layer::Off))
        .await;
    let report = landlock.sandbox_report().unwrap();
    assert_eq!(
        (report.uid, report.seccomp, report.network_namespace),
        (0, false, false)
    );
    let outcome = run(
        &landlock,
        &attempts(&[
            (
                "other kernel",
                &format!("open({:?}).read()", other.home_dir().join("secret.txt")),
            ),
            ("tmp", "open('/tmp/sbk-landlock.txt', 'w')"),
            (
                "tcp",
                "__import__('socket').create_connection(('127.0.0.1', 9), 1)",
            ),
        ]),
    )
    .await;
    for (label, result) in results(&outcome.stdout()) {
        assert_eq!(result, "PermissionError", "{label}");
    }

    // seccomp alone: no network socket, no new session.
    let seccomp = node
        .kernel_with(&only(Layer::Off, Layer::Require, Layer::Off))
        .await;
    assert_eq!(seccomp.sandbox_report().unwrap().landlock, "off");
    let outcome = run(
        &seccomp,
        &attempts(&[
            ("udp", "__import__('socket').socket(2, 2)"),
            ("setsid", "__import__('os').setsid()"),
        ]),
    )
    .await;
    for (label, result) in results(&outcome.stdout()) {
        assert_eq!(result, "PermissionError", "{label}");
    }

    // Network namespace alone: a UDP socket opens but reaches nothing.
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let port = udp.local_addr().unwrap().port();
    let netns = node
        .kernel_with(&only(Layer::Off, Layer::Off, Layer::Require))
        .await;
    assert!(netns.sandbox_report().unwrap().network_namespace);
    let outcome = run(
        &netns,
        &attempts(&[(
            "sendto",
            &format!("__import__('socket').socket(2, 2).sendto(b'x', ('127.0.0.1', {port}))"),
        )]),
    )
    .await;
    assert_eq!(results(&outcome.stdout())[0].1, "OSError", "{outcome:?}");
    let mut buf = [0u8; 8];
    assert!(udp.recv(&mut buf).is_err());
}

/// Python that tries to connect to each `(label, address)` Unix socket (a path, or an
/// abstract name starting with NUL) and prints `label: connected` or the error class.
fn unix_connects(cases: &[(String, String)]) -> String {
    let mut code = String::from(
        "import socket\ndef attempt(label, address):\n    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)\n    s.settimeout(2)\n    try:\n        s.connect(address)\n        print(label + ': connected')\n    except OSError as e:\n        print(label + ': ' + type(e).__name__)\n    finally:\n        s.close()\n",
    );
    for (label, address) in cases {
        code.push_str(&format!("attempt({label:?}, {address:?})\n"));
    }
    code
}

/// The host's service sockets a kernel must not reach, those present on this machine.
pub fn host_service_sockets() -> Vec<(String, String)> {
    [
        ("postgresql", "/var/run/postgresql/.s.PGSQL.5432"),
        ("postgresql-run", "/run/postgresql/.s.PGSQL.5432"),
        ("mariadb", "/run/mysqld/mysqld.sock"),
        ("mariadb-var", "/var/run/mysqld/mysqld.sock"),
        ("dbus", "/run/dbus/system_bus_socket"),
    ]
    .into_iter()
    .filter(|(_, path)| std::path::Path::new(path).exists())
    .map(|(label, path)| (label.to_owned(), path.to_owned()))
    .collect()
}

#[tokio::test]
async fn no_unix_socket_of_the_host_or_another_kernel_is_reachable() {
    use std::os::linux::net::SocketAddrExt;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::{SocketAddr, UnixListener};

    let node = node().await;
    let other = node.kernel().await;
    let kernel = node.kernel().await;
    // A socket anyone may connect to, in a folder anyone may enter, and an abstract one:
    // only the kernel's view and network namespace can keep it out.
    let open_dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(open_dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let open_path = open_dir.path().join("open.sock");
    let open = UnixListener::bind(&open_path).unwrap();
    std::fs::set_permissions(&open_path, std::fs::Permissions::from_mode(0o777)).unwrap();
    let abstract_name = format!("switchboard-test-{}", std::process::id());
    let abstract_listener =
        UnixListener::bind_addr(&SocketAddr::from_abstract_name(&abstract_name).unwrap()).unwrap();
    for listener in [&open, &abstract_listener] {
        listener.set_nonblocking(true).unwrap();
    }
    // The host itself can connect: the attempts below are real ones.
    drop(std::os::unix::net::UnixStream::connect(&open_path).unwrap());
    assert!(open.accept().is_ok());

    let mut cases = host_service_sockets();
    cases.push(("open socket".into(), open_path.display().to_string()));
    cases.push(("abstract".into(), format!("\0{abstract_name}")));
    cases.push((
        "other kernel".into(),
        other.dir().join("ipc-1").display().to_string(),
    ));
    let outcome = run(&kernel, &unix_connects(&cases)).await;
    let attempted = results(&outcome.stdout());
    assert_eq!(attempted.len(), cases.len(), "{outcome:?}");
    for (label, result) in &attempted {
        assert_ne!(result, "connected", "{label}: {outcome:?}");
    }
    assert!(open.accept().is_err(), "nothing reached the open socket");
    assert!(
        abstract_listener.accept().is_err(),
        "nothing reached the abstract socket"
    );

    // Nothing of the host's /run, /tmp or the runtime folder is in view; its own folder is.
    let runtime = kernel.dir().parent().unwrap().to_path_buf();
    let code = format!(
        "import os\nfor label, path in [('run', '/run'), ('var run', '/var/run'), ('tmp', '/tmp'), ('runtime', {runtime:?}), ('other', {other:?})]:\n    try:\n        print(label + ': ' + repr(sorted(os.listdir(path))))\n    except OSError as e:\n        print(label + ': ' + type(e).__name__)\nprint('own: ' + repr(sorted(os.listdir({own:?}))))\n",
        other = other.dir(),
        own = kernel.dir(),
    );
    let outcome = run(&kernel, &code).await;
    let listed = results(&outcome.stdout());
    let get = |label: &str| {
        listed
            .iter()
            .find(|(l, _)| l == label)
            .map(|(_, r)| r.clone())
            .unwrap_or_else(|| panic!("{label} missing: {outcome:?}"))
    };
    for label in ["run", "var run", "other"] {
        assert_eq!(get(label), "FileNotFoundError", "{label}: {outcome:?}");
    }
    assert!(
        matches!(get("tmp").as_str(), "[]" | "PermissionError"),
        "at most an empty /tmp of its own: {outcome:?}"
    );
    let own_id = kernel
        .dir()
        .file_name()
        .unwrap()
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        matches!(get("runtime").as_str(), "PermissionError")
            || get("runtime") == format!("[{own_id:?}]").replace('"', "'"),
        "the runtime folder shows at most the kernel's own folder: {outcome:?}"
    );
    assert!(get("own").contains("'home'"), "{outcome:?}");
    // The kernel's own ZeroMQ sockets work: it answered all of the above, and still does.
    assert_eq!(run(&kernel, "print(6 * 7)").await.stdout(), "42\n");
    assert_eq!(run(&other, "print('alive')").await.stdout(), "alive\n");
    let report = kernel.sandbox_report().unwrap();
    assert!(report.network_namespace, "{report}");
    assert!(!report.view.is_empty(), "{report}");
}
