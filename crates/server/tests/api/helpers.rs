//! The test harness: a real server on a loopback port with its own data directory, and
//! clients that speak to it the way devices and viewers do.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use switchboard_server::{Config, Server};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The password [`TestApp::signup`] and [`TestApp::join_account`] give every user: long and
/// uncommon enough for the strength check.
pub const PASSWORD: &str = "quiet lantern orbit mosaic";

/// Every wait in the tests is bounded by this, so a bug fails a test instead of hanging it.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// How often [`eventually`] looks again.
const POLL_EVERY: Duration = Duration::from_millis(20);

/// Polls `check` until it gives a value, for at most `within`. Each miss says what it saw
/// (`Err(description)`), and the last one is shown if time runs out. Every polling loop of
/// the tests goes through this, so each wait is bounded and names what it waited for.
#[allow(dead_code, reason = "not every test binary sharing this harness polls")]
pub async fn eventually<T, F, Fut>(what: &str, within: Duration, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    eventually_every(what, within, POLL_EVERY, check).await
}

/// [`eventually`], looking again every `every` (for checks that cost something, such as a
/// sign-in attempt against a throttle).
#[allow(dead_code, reason = "not every test binary sharing this harness polls")]
pub async fn eventually_every<T, F, Fut>(
    what: &str,
    within: Duration,
    every: Duration,
    mut check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match check().await {
            Ok(value) => return value,
            Err(seen) => {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "{what}: not within {within:?}; last seen: {seen}"
                );
                tokio::time::sleep(every).await;
            }
        }
    }
}

/// `Ok(())` when `condition` holds, else `Err(seen)`: the shape [`eventually`] polls.
#[allow(dead_code, reason = "not every test binary sharing this harness polls")]
pub fn holds(condition: bool, seen: impl std::fmt::Display) -> Result<(), String> {
    if condition {
        Ok(())
    } else {
        Err(seen.to_string())
    }
}

fn init_logs() {
    // Quiet unless TEST_LOG is set.
    if std::env::var_os("TEST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                std::env::var("TEST_LOG").unwrap_or_else(|_| "debug".into()),
            ))
            .with_test_writer()
            .try_init();
    }
}

/// A loopback port nobody listens on right now (for a child process to bind).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A running server.
pub struct TestApp {
    pub addr: SocketAddr,
    pub api: String,
    pub http: reqwest::Client,
    pub config: Config,
    pub dir: Arc<tempfile::TempDir>,
    /// The node's store, for arranging and checking what the API cannot.
    pub store: Arc<dyn switchboard_store::Store>,
    /// The node's shared state (its vault and re-encryption task, for tests that drive them).
    pub app: Arc<switchboard_server::App>,
    /// Where `/metrics` is served apart, when `metrics_listen` is set.
    #[allow(
        dead_code,
        reason = "read by the abuse suite, which shares this harness"
    )]
    pub metrics_addr: Option<SocketAddr>,
    /// The API routes the node's router serves.
    #[allow(dead_code, reason = "read by the OpenAPI tests of the API suite")]
    pub routes: Vec<switchboard_server::routes::Route>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

/// A server with default settings.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// A server with settings changed by `tweak` (e.g. millisecond timeouts).
pub async fn spawn_app_with(tweak: impl FnOnce(&mut Config)) -> TestApp {
    let dir = Arc::new(tempfile::tempdir().expect("temp dir"));
    let mut config = Config::default();
    config.operations.data_dir = dir.path().to_owned();
    // Kernels cost a process each: only the tests about them turn them on.
    config.kernels.kernels_enabled = Some(false);
    config.kernels.kernel_pool = String::new();
    config.kernels.kernel_helper =
        Some(env!("CARGO_BIN_EXE_switchboard-server-kernel-helper").into());
    // So does the detector (a model load, and its memory): only camera tests turn it on.
    config.cameras.detection = false;
    // Tests run side by side: each node's WebRTC takes any free UDP port.
    config.webrtc.webrtc_udp_port = 0;
    tweak(&mut config);
    start(config, dir, "127.0.0.1:0".parse().unwrap()).await
}

async fn start(mut config: Config, dir: Arc<tempfile::TempDir>, addr: SocketAddr) -> TestApp {
    init_logs();
    let listener = TcpListener::bind(addr).await.expect("bind");
    let addr = listener.local_addr().unwrap();
    config.network.listen = addr;
    let scheme = if config.tls_enabled() {
        "https"
    } else {
        "http"
    };
    config.network.public_url = Some(format!("{scheme}://{addr}"));
    let server = Server::start(config.clone()).await.expect("server starts");
    let store = server.app().store.clone();
    let app = server.app().clone();
    let metrics_addr = server.metrics_addr();
    let routes = server.api_routes();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        server
            .serve(listener, async {
                let _ = rx.await;
            })
            .await
            .expect("server ran");
    });
    TestApp {
        addr,
        api: format!("http://{addr}/api/v1"),
        http: reqwest::Client::builder()
            .timeout(PATIENCE)
            .build()
            .unwrap(),
        config,
        dir,
        store,
        app,
        metrics_addr,
        routes,
        stop: Some(tx),
        task: Some(task),
    }
}

impl TestApp {
    /// Stops the server the way SIGTERM does and waits until it has.
    pub async fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            tokio::time::timeout(PATIENCE, task)
                .await
                .expect("server stops in time")
                .expect("server task");
        }
    }

    /// Stops the server and starts a new one on the same address and data directory.
    pub async fn restart(mut self) -> TestApp {
        self.stop().await;
        start(self.config.clone(), self.dir.clone(), self.addr).await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.api)
    }

    pub fn ws_url(&self, path: &str) -> String {
        format!("ws://{}/api/v1{path}", self.addr)
    }

    /// Creates an account with its first admin; returns the token.
    pub async fn signup(&self, username: &str) -> String {
        let resp = self
            .http
            .post(self.url("/auth/register"))
            .json(&json!({"username": username, "password": PASSWORD, "account_name": format!("{username}'s clinic")}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        resp.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Creates a video session; returns its JSON view.
    /// Joins `admin`'s account as `username` with an invite the admin makes (the password
    /// [`signup`](Self::signup) uses); returns the new user's token.
    #[allow(
        dead_code,
        reason = "used by the abuse suite, which shares this harness"
    )]
    pub async fn join_account(&self, admin: &str, username: &str) -> String {
        let invite: Value = self
            .http
            .post(self.url("/account/invites"))
            .bearer_auth(admin)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let resp = self
            .http
            .post(self.url("/auth/register"))
            .json(&json!({"username": username, "password": PASSWORD,
                          "invite": invite["invite"]}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        resp.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    /// Registers a camera named `name` to `token`'s account: (camera id, camera token).
    pub async fn create_camera(&self, token: &str, name: &str) -> (String, String) {
        let resp = self
            .http
            .post(self.url("/cameras"))
            .bearer_auth(token)
            .json(&json!({ "name": name }))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        let body: Value = resp.json().await.unwrap();
        (
            body["id"].as_str().unwrap().to_owned(),
            body["token"].as_str().unwrap().to_owned(),
        )
    }

    /// `GET /me` as `token`'s user.
    pub async fn me(&self, token: &str) -> Value {
        self.http
            .get(self.url("/me"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Makes an operator (`op`) in the account of `admin_token`'s user, through the store
    /// (no route makes one), and signs them in; returns the operator's token.
    pub async fn operator_token(&self, admin_token: &str) -> String {
        use switchboard_core::{Role, User, UserId};
        let me = self.me(admin_token).await;
        let password_hash = switchboard_server::auth::hash_password("operator password".into())
            .await
            .unwrap();
        self.store
            .create_user(&User {
                id: UserId::new(),
                account_id: me["account_id"].as_str().unwrap().parse().unwrap(),
                username: "op".into(),
                password_hash,
                role: Role::Operator,
                created_at: chrono::Utc::now(),
            })
            .await
            .unwrap();
        let login: Value = self
            .http
            .post(self.url("/auth/login"))
            .json(&json!({"username": "op", "password": "operator password"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        login["token"].as_str().unwrap().to_owned()
    }

    pub async fn create_session(&self, token: &str) -> Value {
        let resp = self
            .http
            .post(self.url("/sessions"))
            .bearer_auth(token)
            .json(&json!({"kind": "video", "label": "Room 1"}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::CREATED);
        resp.json().await.unwrap()
    }

    /// Redeems a ticket; returns the raw response.
    pub async fn register_device_raw(&self, ticket: &str, device: Value) -> reqwest::Response {
        self.http
            .post(self.url("/devices/register"))
            .json(&json!({"ticket": ticket, "device": device}))
            .send()
            .await
            .unwrap()
    }

    /// Creates a session and registers a device to it: (suid, device token).
    pub async fn live_session(&self, token: &str) -> (String, String) {
        let s = self.create_session(token).await;
        let resp = self
            .register_device_raw(
                s["ticket"].as_str().unwrap(),
                json!({"model": "Pixel 9", "os": "Android 16", "app_version": "3.1.0"}),
            )
            .await;
        assert_eq!(resp.status(), StatusCode::CREATED);
        let d: Value = resp.json().await.unwrap();
        (
            s["suid"].as_str().unwrap().to_owned(),
            d["device_token"].as_str().unwrap().to_owned(),
        )
    }

    /// Posts one frame.
    pub async fn post_frame(
        &self,
        suid: &str,
        device_token: &str,
        seq: u64,
        jpeg: Bytes,
    ) -> reqwest::Response {
        self.http
            .post(self.url(&format!("/sessions/{suid}/frames?seq={seq}")))
            .bearer_auth(device_token)
            .header("content-type", "image/jpeg")
            .body(jpeg)
            .send()
            .await
            .unwrap()
    }

    /// The session's JSON view; with `wait`, a long poll until the state differs from `state`.
    pub async fn session(&self, token: &str, suid: &str, wait: Option<(&str, u64)>) -> Value {
        let mut url = self.url(&format!("/sessions/{suid}"));
        if let Some((state, secs)) = wait {
            url.push_str(&format!("?state={state}&wait={secs}"));
        }
        let resp = self.http.get(url).bearer_auth(token).send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        resp.json().await.unwrap()
    }

    /// Waits (long poll, bounded) until the session has ended; returns its view.
    pub async fn until_ended(&self, token: &str, suid: &str) -> Value {
        for _ in 0..10 {
            let v = self.session(token, suid, Some(("live", 5))).await;
            if v["state"] == "ended" {
                return v;
            }
            let v = self.session(token, suid, Some(("waiting", 5))).await;
            if v["state"] == "ended" {
                return v;
            }
        }
        panic!("session {suid} did not end");
    }

    /// Opens a WebSocket with a bearer token.
    pub async fn ws(
        &self,
        path: &str,
        token: &str,
    ) -> Result<Ws, tokio_tungstenite::tungstenite::Error> {
        let mut req = self.ws_url(path).into_client_request().unwrap();
        req.headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
        tokio_tungstenite::connect_async(req)
            .await
            .map(|(ws, _)| ws)
    }

    /// The CDR lines written so far.
    pub fn cdr_lines(&self) -> Vec<Value> {
        let dir = self.dir.path().join("cdr");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return vec![];
        };
        let mut lines = vec![];
        for e in entries {
            let text = std::fs::read_to_string(e.unwrap().path()).unwrap();
            lines.extend(
                text.lines()
                    .map(|l| serde_json::from_str::<Value>(l).unwrap()),
            );
        }
        lines
    }
}

/// A small real JPEG showing `n`.
pub fn jpeg(n: u64) -> Bytes {
    Bytes::from(switchboard_media::synth::TestCard::new(64, 48, 70).render(n))
}

/// Next message of a WebSocket, bounded in time.
pub async fn next_msg(ws: &mut Ws) -> Message {
    tokio::time::timeout(PATIENCE, ws.next())
        .await
        .expect("a message in time")
        .expect("socket open")
        .expect("no socket error")
}

/// Next JSON text message (skipping binary frames), bounded in time.
pub async fn next_json(ws: &mut Ws) -> Value {
    loop {
        match next_msg(ws).await {
            Message::Text(t) => return serde_json::from_str(&t).unwrap(),
            Message::Close(c) => panic!("socket closed: {c:?}"),
            _ => continue,
        }
    }
}

/// Waits for a JSON event of `kind` (skipping others), bounded in time.
pub async fn next_event(ws: &mut Ws, kind: &str) -> Value {
    loop {
        let v = next_json(ws).await;
        if v["type"] == kind {
            return v;
        }
    }
}

/// Next binary frame (skipping text events), bounded in time.
pub async fn next_frame(ws: &mut Ws) -> Bytes {
    loop {
        match next_msg(ws).await {
            Message::Binary(b) => return b,
            Message::Close(c) => panic!("socket closed: {c:?}"),
            _ => continue,
        }
    }
}

/// Sends a binary frame on a device socket.
pub async fn send_frame(ws: &mut Ws, jpeg: Bytes) {
    ws.send(Message::Binary(jpeg)).await.unwrap();
}

/// Reads MJPEG parts from a `video.mjpeg` response until `n` frames have arrived.
pub async fn read_mjpeg(resp: reqwest::Response, n: usize) -> Vec<Bytes> {
    let ct = resp.headers()["content-type"].to_str().unwrap().to_owned();
    let boundary = switchboard_media::mjpeg::boundary_from_content_type(&ct).unwrap();
    let mut parser = switchboard_media::mjpeg::MultipartParser::new(boundary, 8 << 20);
    let mut body = resp.bytes_stream();
    let mut frames = vec![];
    while frames.len() < n {
        let chunk = tokio::time::timeout(PATIENCE, body.next())
            .await
            .expect("MJPEG data in time")
            .expect("stream open")
            .unwrap();
        parser.push(chunk);
        while let Some(part) = parser.next_part().unwrap() {
            frames.push(part.body);
        }
    }
    frames
}

// ---------------------------------------------------------------------------------------------
// Several nodes
// ---------------------------------------------------------------------------------------------

/// The PostgreSQL server cluster tests make their databases on (its `test` database names it).
const DEFAULT_PG_URL: &str = "postgres://postgres@127.0.0.1:5432/test";
/// The NATS server cluster nodes share.
const DEFAULT_NATS_URL: &str = "nats://127.0.0.1:4222";

/// Nodes that share one fresh PostgreSQL database, the NATS server and the token secret,
/// each with its own node name and data directory, like a real cluster on one machine.
pub struct Cluster {
    /// Declared before `database` so the nodes stop before their database is dropped.
    pub nodes: Vec<TestApp>,
    database: ClusterDatabase,
    /// Holds the shared secret file.
    _shared: tempfile::TempDir,
}

impl Cluster {
    /// The shared database's URL.
    pub fn database_url(&self) -> &str {
        &self.database.url
    }
}

impl std::ops::Index<usize> for Cluster {
    type Output = TestApp;
    fn index(&self, i: usize) -> &TestApp {
        &self.nodes[i]
    }
}

/// A database made for one cluster and dropped with it.
struct ClusterDatabase {
    url: String,
    admin: sqlx::postgres::PgConnectOptions,
    name: String,
}

impl Drop for ClusterDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Drop runs outside async context (maybe while panicking): clean up on a thread with
        // its own runtime. FORCE ends the connections nodes still hold.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                let mut conn = sqlx::PgConnection::connect_with(&admin).await?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await?;
                conn.close().await
            })
        });
        if let Ok(Err(e)) = cleanup.join() {
            eprintln!("could not drop cluster test database {}: {e}", self.name);
        }
    }
}

/// Says once, past the output capture, why cluster tests are skipped; in CI it fails instead.
fn skip_cluster(why: String) -> Option<Cluster> {
    if std::env::var_os("CI").is_some() {
        panic!("cluster tests need PostgreSQL and NATS but CI has no {why}");
    }
    static NOTICE: std::sync::Once = std::sync::Once::new();
    NOTICE.call_once(|| {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED: the cluster tests, because of no {why}; start them (see scripts/test) \
             or set SWITCHBOARD_TEST_DATABASE_URL / SWITCHBOARD_TEST_NATS_URL"
        );
    });
    None
}

/// Starts `n` nodes on loopback ports over one new PostgreSQL database (on
/// `SWITCHBOARD_TEST_DATABASE_URL`'s server) and NATS (`SWITCHBOARD_TEST_NATS_URL`), sharing a
/// token secret file; `tweak` changes every node's settings. `None` (after saying so) when
/// PostgreSQL or NATS is unreachable outside CI.
pub async fn spawn_cluster(n: usize, tweak: impl Fn(&mut Config)) -> Option<Cluster> {
    use sqlx::Connection;
    use std::str::FromStr;
    let base =
        std::env::var("SWITCHBOARD_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG_URL.into());
    let nats_url =
        std::env::var("SWITCHBOARD_TEST_NATS_URL").unwrap_or_else(|_| DEFAULT_NATS_URL.into());
    let admin = sqlx::postgres::PgConnectOptions::from_str(&base)
        .unwrap()
        .database("postgres");
    let mut conn = match tokio::time::timeout(
        Duration::from_secs(5),
        sqlx::PgConnection::connect_with(&admin),
    )
    .await
    {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => return skip_cluster(format!("PostgreSQL at {base} ({e})")),
        Err(_) => return skip_cluster(format!("PostgreSQL at {base} (timed out)")),
    };
    if let Err(e) = switchboard_bus::NatsBus::connect(&nats_url, 1).await {
        return skip_cluster(format!("NATS at {nats_url} ({e})"));
    }
    let name = format!("sb_cluster_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    conn.close().await.unwrap();
    let database = ClusterDatabase {
        url: with_database(&base, &name),
        admin,
        name,
    };
    // Made the way an operator would (see contrib/cluster): one secret, every node reads it.
    let shared = tempfile::tempdir().unwrap();
    let secret = shared.path().join("jwt-secret");
    switchboard_server::auth::load_or_create_secret(shared.path()).unwrap();
    let master_key = shared.path().join("master-key");
    switchboard_server::vault::master_key::MasterKey::create(&master_key).unwrap();
    let mut nodes = Vec::with_capacity(n);
    for i in 1..=n {
        let url = database.url.clone();
        let (nats, secret, master_key) = (nats_url.clone(), secret.clone(), master_key.clone());
        nodes.push(
            spawn_app_with(|c| {
                c.cluster.node_name = Some(format!("n{i}"));
                c.operations.database_url = Some(url);
                c.cluster.nats_url = Some(nats);
                c.auth.token_secret_file = Some(secret);
                c.operations.master_key_file = Some(master_key);
                tweak(c);
            })
            .await,
        );
    }
    Some(Cluster {
        nodes,
        database,
        _shared: shared,
    })
}

/// `url` with its database name replaced, keeping any query parameters.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{name}?{query}"),
        None => format!("{server}/{name}"),
    }
}
