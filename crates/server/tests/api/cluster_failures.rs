//! A cluster through the failures of what it shares: NATS restarted under live sessions, and
//! PostgreSQL cut off from a node. Local traffic carries on, `/readyz` says what is wrong,
//! and everything recovers by itself.

use crate::helpers::*;
use futures::StreamExt;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How long a recovery may take: NATS clients back off up to 4 s between reconnects.
const RECOVERY: Duration = Duration::from_secs(30);

/// Says why a failure test cannot run here; in CI it fails instead.
pub(crate) fn skip(why: &str) {
    assert!(
        std::env::var_os("CI").is_none(),
        "this test needs {why}, which CI must have"
    );
    eprintln!("SKIPPED: needs {why}");
}

/// A private `nats-server` process on a port of its own, killed when dropped.
pub(crate) struct NatsProcess {
    child: tokio::process::Child,
}

impl NatsProcess {
    pub(crate) const BINARY: &str = "/usr/sbin/nats-server";

    /// Starts it and waits until it accepts connections.
    pub(crate) async fn start(port: u16) -> NatsProcess {
        let child = tokio::process::Command::new(Self::BINARY)
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        eventually("nats-server to listen", PATIENCE, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map(drop)
                .map_err(|e| e.to_string())
        })
        .await;
        NatsProcess { child }
    }

    /// Kills it (as a crash would) and waits until it is gone.
    pub(crate) async fn kill(mut self) {
        self.child.kill().await.unwrap();
    }
}

async fn readyz(node: &TestApp) -> (StatusCode, String) {
    let resp = node
        .http
        .get(format!("http://{}/readyz", node.addr))
        .send()
        .await
        .unwrap();
    (resp.status(), resp.text().await.unwrap())
}

/// Polls `/readyz` until it answers `want`; returns the body.
async fn until_ready_is(node: &TestApp, want: StatusCode, within: Duration) -> String {
    let what = format!("readyz of {} to answer {want}", node.addr);
    eventually(&what, within, || async {
        let (status, body) = readyz(node).await;
        if status == want {
            Ok(body)
        } else {
            Err(format!("{status} ({body})"))
        }
    })
    .await
}

/// Posts the device's frames to `device_node` until `want` shows up in a viewer's MJPEG
/// body, so that relay start-up and reconnects do not matter.
async fn until_viewer_sees(
    device_node: &TestApp,
    suid: &str,
    device: &str,
    body: &mut (impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin),
    want: bytes::Bytes,
    within: Duration,
    what: &str,
) {
    let deadline = tokio::time::Instant::now() + within;
    let mut buf = Vec::new();
    let mut seq = 0;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        seq += 1;
        let resp = device_node
            .post_frame(suid, device, seq, want.clone())
            .await;
        assert_eq!(resp.status(), StatusCode::OK, "the device's node takes it");
        if let Ok(Some(chunk)) = tokio::time::timeout(Duration::from_millis(200), body.next()).await
        {
            buf.extend_from_slice(&chunk.unwrap());
            if buf.windows(want.len()).any(|w| w == want.as_ref()) {
                return;
            }
            // Keep only what may hold the start of the frame.
            let keep = buf.len().saturating_sub(want.len());
            buf.drain(..keep);
        }
    }
}

async fn watch_mjpeg(
    node: &TestApp,
    token: &str,
    suid: &str,
) -> impl futures::Stream<Item = reqwest::Result<bytes::Bytes>> + Unpin {
    let resp = node
        .http
        .get(node.url(&format!("/sessions/{suid}/video.mjpeg")))
        .bearer_auth(token)
        .timeout(Duration::from_secs(300))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.bytes_stream()
}

/// The metrics token of the nodes whose counters [`counter`] reads.
const METRICS_TOKEN: &str = "cluster-failures-metrics-token";

/// The value of an unlabelled counter in `/metrics`.
async fn counter(node: &TestApp, name: &str) -> f64 {
    let text = node
        .http
        .get(format!("http://{}/metrics", node.addr))
        .bearer_auth(METRICS_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} is not in /metrics"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_serve_local_viewers_through_a_nats_restart_and_resubscribe_after_it() {
    if !std::path::Path::new(NatsProcess::BINARY).exists() {
        return skip("nats-server (apt-get install nats-server)");
    }
    let port = free_port();
    let nats = NatsProcess::start(port).await;
    let url = format!("nats://127.0.0.1:{port}");
    let Some(cluster) = spawn_cluster(2, |c| {
        c.cluster.nats_url = Some(url.clone());
        c.cluster.bus_probe_interval = Duration::from_millis(500);
        c.operations.metrics_token = Some(METRICS_TOKEN.into());
    })
    .await
    else {
        return;
    };
    let (n1, n2) = (&cluster[0], &cluster[1]);
    let token = n1.signup("cluster.natsrestart").await;
    // The session is made on n1, so n1 owns it; the device sends there too.
    let (suid, device) = n1.live_session(&token).await;
    let mut local = watch_mjpeg(n1, &token, &suid).await;
    let mut remote = watch_mjpeg(n2, &token, &suid).await;
    until_viewer_sees(
        n1,
        &suid,
        &device,
        &mut remote,
        jpeg(1),
        PATIENCE,
        "n2 viewer before",
    )
    .await;
    let failures_before = counter(n1, "switchboard_bus_probe_failures_total").await;

    nats.kill().await;
    // Both nodes say the bus is down; n1's own viewer keeps getting the device's frames.
    for node in &cluster.nodes {
        let body = until_ready_is(node, StatusCode::SERVICE_UNAVAILABLE, PATIENCE).await;
        let body: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(body["error"], "unavailable", "{body}");
        assert!(
            body["message"].as_str().unwrap().starts_with("the bus is"),
            "{body}"
        );
    }
    for n in 2..5 {
        until_viewer_sees(
            n1,
            &suid,
            &device,
            &mut local,
            jpeg(n),
            PATIENCE,
            "n1's viewer stopped getting frames without NATS",
        )
        .await;
    }

    // The probes notice (and are counted) before NATS is back.
    eventually(
        "a missed probe counted while NATS is away",
        PATIENCE,
        || async {
            let failures = counter(n1, "switchboard_bus_probe_failures_total").await;
            holds(failures > failures_before, format!("{failures} failures"))
        },
    )
    .await;

    // NATS comes back on the same address: the nodes reconnect, subscribe again, and the
    // viewer on n2 gets new frames again.
    let _nats = NatsProcess::start(port).await;
    until_viewer_sees(
        n1,
        &suid,
        &device,
        &mut remote,
        jpeg(10),
        RECOVERY,
        "n2's viewer got no frames after NATS came back",
    )
    .await;
    for node in &cluster.nodes {
        until_ready_is(node, StatusCode::OK, RECOVERY).await;
    }

    // A token revoked on n1 reaches n2 over the bus again.
    let resp = n1
        .http
        .post(n1.url("/auth/login"))
        .json(&json!({"username": "cluster.natsrestart", "password": "quiet lantern orbit mosaic"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let second: Value = resp.json().await.unwrap();
    let second = second["token"].as_str().unwrap().to_owned();
    let me = |node: &TestApp| node.http.get(node.url("/me")).bearer_auth(&second).send();
    assert_eq!(me(n2).await.unwrap().status(), StatusCode::OK);
    let resp = n1
        .http
        .post(n1.url("/auth/logout"))
        .bearer_auth(&second)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NO_CONTENT);
    eventually("n2 to refuse a token revoked on n1", PATIENCE, || async {
        let status = me(n2).await.unwrap().status();
        holds(status == StatusCode::UNAUTHORIZED, status)
    })
    .await;
}

/// A TCP proxy between a node and PostgreSQL that can be cut (every connection dropped, new
/// ones closed at once) and restored.
struct CuttableProxy {
    addr: SocketAddr,
    /// Where connections go; set from the node's database URL.
    upstream: Arc<Mutex<Option<String>>>,
    cut: Arc<AtomicBool>,
    /// Cancelled to drop the connections forwarded so far.
    connections: Arc<Mutex<CancellationToken>>,
    stop: CancellationToken,
}

impl CuttableProxy {
    async fn start() -> CuttableProxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let proxy = CuttableProxy {
            addr: listener.local_addr().unwrap(),
            upstream: Arc::default(),
            cut: Arc::default(),
            connections: Arc::new(Mutex::new(CancellationToken::new())),
            stop: CancellationToken::new(),
        };
        let (upstream, cut, connections, stop) = (
            proxy.upstream.clone(),
            proxy.cut.clone(),
            proxy.connections.clone(),
            proxy.stop.clone(),
        );
        tokio::spawn(async move {
            loop {
                let mut client = tokio::select! {
                    () = stop.cancelled() => return,
                    accepted = listener.accept() => match accepted {
                        Ok((socket, _)) => socket,
                        Err(_) => continue,
                    },
                };
                if cut.load(Ordering::SeqCst) {
                    continue; // dropped: the connection closes at once
                }
                let Some(target) = upstream.lock().unwrap().clone() else {
                    continue;
                };
                let gone = connections.lock().unwrap().clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        () = gone.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
        proxy
    }

    /// Points `url` (a node's database URL) at the proxy, and the proxy at its server.
    fn intercept(&self, url: &str) -> String {
        let mut parsed = reqwest::Url::parse(url).unwrap();
        let host = parsed.host_str().unwrap_or("127.0.0.1").to_owned();
        let port = parsed.port().unwrap_or(5432);
        *self.upstream.lock().unwrap() = Some(format!("{host}:{port}"));
        parsed.set_host(Some("127.0.0.1")).unwrap();
        parsed.set_port(Some(self.addr.port())).unwrap();
        parsed.to_string()
    }

    fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
        let mut connections = self.connections.lock().unwrap();
        connections.cancel();
        *connections = CancellationToken::new();
    }

    fn restore(&self) {
        self.cut.store(false, Ordering::SeqCst);
    }
}

impl Drop for CuttableProxy {
    fn drop(&mut self) {
        self.stop.cancel();
        self.connections.lock().unwrap().cancel();
    }
}

async fn list_sessions(node: &TestApp, token: &str) -> reqwest::Response {
    node.http
        .get(node.url("/sessions"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_postgresql_a_node_is_unready_but_live_frames_flow_and_it_recovers() {
    let proxy = CuttableProxy::start().await;
    let Some(cluster) = spawn_cluster(1, |c| {
        let url = c.operations.database_url.clone().unwrap();
        c.operations.database_url = Some(proxy.intercept(&url));
    })
    .await
    else {
        return;
    };
    let node = &cluster[0];
    let token = node.signup("cluster.pgoutage").await;
    let (suid, device_token) = node.live_session(&token).await;
    let mut device = node
        .ws(&format!("/sessions/{suid}/device"), &device_token)
        .await
        .unwrap();
    let mut viewer = node
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    send_frame(&mut device, jpeg(1)).await;
    assert_eq!(next_frame(&mut viewer).await, jpeg(1));
    assert_eq!(
        until_ready_is(node, StatusCode::OK, PATIENCE).await,
        "ready"
    );

    proxy.cut();
    let body = until_ready_is(node, StatusCode::SERVICE_UNAVAILABLE, PATIENCE).await;
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        json!({"error": "unavailable", "message": "the database is unavailable; try again shortly"})
    );
    let resp = list_sessions(node, &token).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(
        body,
        json!({"error": "unavailable", "message": "the database is unavailable; try again shortly"})
    );
    // Frames between the connected device and its viewer do not touch the database.
    for n in 2..6 {
        send_frame(&mut device, jpeg(n)).await;
        assert_eq!(next_frame(&mut viewer).await, jpeg(n), "frame {n}");
    }

    // Back: ready again and the API works, without restarting the node.
    proxy.restore();
    until_ready_is(node, StatusCode::OK, PATIENCE).await;
    let listed: Value = eventually("the API to recover", PATIENCE, || async {
        let resp = list_sessions(node, &token).await;
        match resp.status() {
            StatusCode::OK => Ok(resp.json().await.unwrap()),
            status => Err(status.to_string()),
        }
    })
    .await;
    assert!(listed.to_string().contains(&suid), "{listed}");
    send_frame(&mut device, jpeg(7)).await;
    assert_eq!(next_frame(&mut viewer).await, jpeg(7));
}

/// A private PostgreSQL server (its own data folder, port and socket folder, run as the
/// `postgres` user) that a test may stop and start: the machine's server is shared by the
/// other tests. Stopped for good when dropped.
struct PostgresProcess {
    bin: std::path::PathBuf,
    dir: tempfile::TempDir,
    port: u16,
}

impl PostgresProcess {
    /// The newest installed server's programs, when there is a `postgres` user to run them
    /// and we are root (PostgreSQL refuses to run as root; `runuser` switches).
    fn find() -> Option<std::path::PathBuf> {
        let uid = |args: &[&str]| {
            std::process::Command::new("id")
                .args(args)
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        };
        let root = uid(&["-u"]).as_deref() == Some("0");
        let has_user = uid(&["-u", "postgres"]).is_some();
        let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .flatten()
            .map(|e| e.path().join("bin"))
            .filter(|bin| bin.join("initdb").exists())
            .collect();
        versions.sort();
        versions.pop().filter(|_| root && has_user)
    }

    /// Creates the cluster (`initdb`) and starts it.
    async fn start_new(bin: std::path::PathBuf) -> PostgresProcess {
        let dir = tempfile::tempdir().unwrap();
        let owned = std::process::Command::new("chown")
            .arg("postgres")
            .arg(dir.path())
            .status()
            .unwrap();
        assert!(owned.success());
        let pg = PostgresProcess {
            bin,
            dir,
            port: free_port(),
        };
        let data = pg.dir.path().join("data");
        pg.run(
            "initdb",
            &[
                "-D".as_ref(),
                data.as_os_str(),
                "-A".as_ref(),
                "trust".as_ref(),
                "-U".as_ref(),
                "postgres".as_ref(),
                "--no-sync".as_ref(),
            ],
        )
        .await;
        pg.start().await;
        pg
    }

    async fn run(&self, program: &str, args: &[&std::ffi::OsStr]) {
        let output = tokio::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join(program))
            .args(args)
            .output()
            .await
            .unwrap();
        assert!(
            output.status.success(),
            "{program}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn pg_ctl_args(&self, action: &str) -> Vec<std::ffi::OsString> {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off",
            self.port,
            self.dir.path().display()
        );
        [
            "-D".into(),
            self.dir.path().join("data").into_os_string(),
            "-o".into(),
            options.into(),
            "-l".into(),
            self.dir.path().join("log").into_os_string(),
            "-m".into(),
            "fast".into(),
            "-w".into(),
            action.into(),
        ]
        .into()
    }

    async fn start(&self) {
        let args = self.pg_ctl_args("start");
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        self.run("pg_ctl", &args).await;
    }

    /// Stops it the way an administrator's restart does: clients are disconnected.
    async fn stop(&self) {
        let args = self.pg_ctl_args("stop");
        let args: Vec<&std::ffi::OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        self.run("pg_ctl", &args).await;
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for PostgresProcess {
    fn drop(&mut self) {
        let _ = std::process::Command::new("runuser")
            .args(["-u", "postgres", "--"])
            .arg(self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "immediate", "-w", "stop"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Sends `want` on a device socket until a viewer socket shows it (a relay between nodes may
/// take a moment to start, and a viewer may still hold an older frame).
async fn send_until_seen(device: &mut Ws, viewer: &mut Ws, want: bytes::Bytes, what: &str) {
    let deadline = tokio::time::Instant::now() + PATIENCE;
    loop {
        assert!(tokio::time::Instant::now() < deadline, "no frame {what}");
        send_frame(device, want.clone()).await;
        let until = tokio::time::Instant::now() + Duration::from_millis(300);
        while let Ok(frame) = tokio::time::timeout_at(until, next_frame(viewer)).await {
            if frame == want {
                return;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgresql_restart_during_a_cross_node_call_loses_nothing() {
    let Some(bin) = PostgresProcess::find() else {
        return skip("root, a postgres user and PostgreSQL's server programs");
    };
    let pg = PostgresProcess::start_new(bin).await;
    let url = pg.url();
    let Some(cluster) = spawn_cluster(2, |c| {
        c.operations.database_url = Some(url.clone());
        // This test is about the restart, not a takeover: the owner keeps its lease across it.
        c.cluster.session_lease = Duration::from_secs(30);
    })
    .await
    else {
        return;
    };
    let (n1, n2) = (&cluster[0], &cluster[1]);
    let token = n1.signup("cluster.pgrestart").await;
    let (suid, device_token) = n1.live_session(&token).await;
    let mut device = n1
        .ws(&format!("/sessions/{suid}/device"), &device_token)
        .await
        .unwrap();
    let mut viewer = n2
        .ws(&format!("/sessions/{suid}/watch"), &token)
        .await
        .unwrap();
    send_until_seen(&mut device, &mut viewer, jpeg(1), "before the restart").await;

    pg.stop().await;
    for node in [n1, n2] {
        until_ready_is(node, StatusCode::SERVICE_UNAVAILABLE, PATIENCE).await;
    }
    let resp = list_sessions(n2, &token).await;
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    // Frames go from the device's node to the viewer's over NATS, without the database.
    for n in 2..5 {
        send_until_seen(
            &mut device,
            &mut viewer,
            jpeg(n),
            "while PostgreSQL is down",
        )
        .await;
    }

    pg.start().await;
    for node in [n1, n2] {
        until_ready_is(node, StatusCode::OK, RECOVERY).await;
    }
    send_until_seen(&mut device, &mut viewer, jpeg(9), "after the restart").await;
    // Still one session, live, and its end leaves exactly one CDR.
    let listed: Value = eventually("the API to recover", RECOVERY, || async {
        let resp = list_sessions(n2, &token).await;
        match resp.status() {
            StatusCode::OK => Ok(resp.json().await.unwrap()),
            status => Err(status.to_string()),
        }
    })
    .await;
    assert!(listed.to_string().contains(&suid), "{listed}");
    crate::cluster_live::end_with_one_cdr(n2, &token, &suid).await;
}
