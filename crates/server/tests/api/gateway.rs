//! Switchboard as Jupyter Server's kernel gateway: a real jupyter_server (PyPI) in gateway
//! mode in front of one node, and of two nodes behind HAProxy, with `@jupyterlab/services`
//! (the client JupyterLab itself uses) talking to jupyter_server. Also the gateway protocol's
//! own parts: kernelspecs one by one and their logos, `env` on start, the auth header forms.

use crate::haproxy::{HAPROXY, Haproxy, backend};
use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::Path;
use std::time::Duration;
use switchboard_server::config::KernelPlacement;
use switchboard_server::kernel_id::KernelId;

/// A jupyter_server process, killed when dropped.
struct JupyterServer {
    _child: tokio::process::Child,
    base: String,
    token: String,
    _dir: tempfile::TempDir,
}

/// Whether jupyter_server is importable (scripts/test installs it; CI must have it).
fn jupyter_server_installed() -> bool {
    let found = std::process::Command::new("python3")
        .args(["-c", "import jupyter_server"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs jupyter_server (scripts/test installs it)"
        );
        eprintln!("SKIPPED: needs jupyter_server (pip install 'jupyter_server==2.21.1')");
    }
    found
}

/// How jupyter_server signs in to Switchboard.
enum GatewayAuth<'a> {
    /// `--GatewayClient.auth_token`, sent as `Authorization: token …` (its default).
    Token(&'a str),
    /// No token: contrib/jupyter/switchboard_gateway.py signs in with this username (and
    /// the test password) before the first request.
    Renewer(&'a str),
}

impl JupyterServer {
    /// Starts jupyter_server in gateway mode in front of `gateway` (a Switchboard base URL),
    /// signed in there as `auth` says, and waits until it answers. Its environment has
    /// `KERNEL_USERNAME=ana`, which it passes on, and `SB_NOT_ALLOWED`, which it is told to
    /// pass on and Switchboard's allow-list leaves out.
    async fn gateway(gateway: &str, auth: GatewayAuth<'_>) -> JupyterServer {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let token = format!("jt{}", uuid::Uuid::new_v4().simple());
        let sub = |name: &str| {
            let path = dir.path().join(name);
            std::fs::create_dir_all(&path).unwrap();
            path
        };
        let mut command = tokio::process::Command::new("python3");
        command.args(["-m", "jupyter_server"]);
        match auth {
            GatewayAuth::Token(token) => {
                command.arg(format!("--GatewayClient.auth_token={token}"));
            }
            GatewayAuth::Renewer(username) => {
                let contrib = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../contrib/jupyter");
                command
                    .arg("--GatewayClient.gateway_token_renewer_class=switchboard_gateway.SwitchboardTokenRenewer")
                    .env("PYTHONPATH", contrib)
                    .env("SWITCHBOARD_USERNAME", username)
                    .env("SWITCHBOARD_PASSWORD", PASSWORD);
            }
        }
        let child = command
            .arg("--ServerApp.ip=127.0.0.1")
            .arg(format!("--ServerApp.port={port}"))
            .arg("--ServerApp.port_retries=0")
            .arg("--ServerApp.open_browser=False")
            .arg("--ServerApp.allow_root=True")
            .arg(format!(
                "--ServerApp.root_dir={}",
                sub("notebooks").display()
            ))
            .arg(format!("--IdentityProvider.token={token}"))
            .arg(format!("--GatewayClient.url={gateway}"))
            .arg("--GatewayClient.allowed_envs=SB_NOT_ALLOWED")
            .arg("--GatewayClient.request_timeout=120")
            .env("JUPYTER_CONFIG_DIR", sub("config"))
            .env("JUPYTER_DATA_DIR", sub("data"))
            .env("JUPYTER_RUNTIME_DIR", sub("runtime"))
            .env("KERNEL_USERNAME", "ana")
            .env("SB_NOT_ALLOWED", "leaked")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::create(dir.path().join("jupyter.log")).unwrap())
            .kill_on_drop(true)
            .spawn()
            .expect("python3 runs");
        let base = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let log = dir.path().join("jupyter.log");
        eventually("jupyter_server to answer", PATIENCE, || async {
            match http
                .get(format!("{base}/api/status"))
                .header("authorization", format!("token {token}"))
                .send()
                .await
            {
                Ok(resp) => holds(resp.status() == StatusCode::OK, resp.status()),
                Err(e) => Err(format!(
                    "{e}; its log: {}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                )),
            }
        })
        .await;
        JupyterServer {
            _child: child,
            base,
            token,
            _dir: dir,
        }
    }

    /// jupyter_server's own log so far, for failure messages.
    fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("jupyter.log")).unwrap_or_default()
    }

    /// Runs `gateway.js` (`@jupyterlab/services`) against this jupyter_server; the JSON line
    /// it prints.
    async fn lab_client(&self, mode: &str) -> Value {
        crate::kernels::run_lab_script(
            "gateway.js",
            &[&self.base, &self.token, mode],
            Duration::from_secs(240),
            || format!("jupyter_server's log:\n{}", self.log()),
        )
        .await
    }
}

/// Kernels on, none kept warm (a gateway start carries variables, so it launches anyway).
fn gateway_node(c: &mut switchboard_server::Config) {
    c.kernels.kernels_enabled = Some(true);
    c.kernels.max_kernels = 4;
    c.kernels.kernel_account_share = 1.0;
    c.kernels.kernel_pool = String::new();
}

/// Whether a kernel model counts the client's channels socket. `@jupyterlab/services`
/// reconnects once when jupyter_server picks the legacy protocol for it, and jupyter_server
/// may leave the first socket to the gateway open (it cannot cancel a pending connect), so
/// Switchboard may truly hold two.
fn connected(model: &Value) -> bool {
    model["connections"]
        .as_u64()
        .is_some_and(|n| (1..=2).contains(&n))
}

/// The account's kernels as Switchboard lists them.
async fn kernels_on(app: &TestApp, token: &str) -> Vec<Value> {
    app.http
        .get(format!("http://{}/api/kernels", app.addr))
        .header("authorization", format!("token {token}"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jupyter_server_in_gateway_mode_runs_its_kernels_on_switchboard() {
    if !jupyter_server_installed() {
        return;
    }
    let app = spawn_app_with(gateway_node).await;
    let token = app.signup("gateway").await;
    let jupyter =
        JupyterServer::gateway(&format!("http://{}", app.addr), GatewayAuth::Token(&token)).await;
    let out = jupyter.lab_client("full").await;

    // Kernelspecs come from Switchboard, their logos through jupyter_server.
    assert_eq!(out["default_spec"], "python3", "{out}");
    assert_eq!(
        out["resources"]["logo-64x64"], "/kernelspecs/python3/logo-64x64.png",
        "{out}"
    );
    assert_eq!(out["logo"]["status"], 200, "{out}");
    assert_eq!(out["logo"]["png"], true, "{out}");

    // The kernel jupyter_server started is Switchboard's, under Switchboard's id.
    let id = out["id"].as_str().unwrap();
    assert!(
        KernelId::parse(id).is_some_and(|k| k.home().is(&app.config.node_name())),
        "{out}"
    );
    assert_eq!(out["language"], "python", "{out}");
    assert_eq!(out["answer"], "42\n", "{out}");
    assert_eq!(out["answer_idle"], true, "{out}");
    assert_eq!(out["state"], "42\n", "state is kept between runs: {out}");
    assert_eq!(
        out["env"], "ana None True\n",
        "KERNEL_USERNAME passed, a variable outside the allow-list left out: {out}"
    );
    // The model jupyter_server refreshed from Switchboard: what its culler reads.
    let model = &out["model"];
    assert_eq!(model["execution_state"], "idle", "{out}");
    assert!(connected(model), "{out}");
    let last =
        chrono::DateTime::parse_from_rfc3339(model["last_activity"].as_str().unwrap()).unwrap();
    assert!(
        (chrono::Utc::now() - last.to_utc()).num_seconds() < 120,
        "{out}"
    );

    assert_eq!(out["lines_in_order"], true, "{} bytes", out["lines_bytes"]);
    assert_eq!(out["lines_idle_last"], true, "{out}");
    assert_eq!(out["interrupted"], "KeyboardInterrupt", "{out}");
    assert_eq!(out["after_interrupt"], "still here\n", "{out}");
    assert_eq!(out["widget_opened"], true, "{out}");
    assert_eq!(out["widget_in_kernel"], "42\n", "{out}");
    assert_eq!(out["widget_from_kernel"], true, "{out}");
    assert_eq!(out["after_restart"], "False\n", "{out}");

    // Shut down through jupyter_server: gone there and on Switchboard.
    assert_eq!(out["left"], 0, "{out}");
    eventually("the kernel to be gone on Switchboard", PATIENCE, || async {
        let left = kernels_on(&app, &token).await;
        holds(left.is_empty(), json!(left))
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kernel_started_through_one_node_is_used_through_another_behind_jupyter_server() {
    if !jupyter_server_installed() {
        return;
    }
    if !Path::new(HAPROXY).exists() {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI needs HAProxy for this test (scripts/test installs it)"
        );
        eprintln!("SKIPPED: needs HAProxy (apt-get install haproxy)");
        return;
    }
    let Some(cluster) = spawn_cluster(2, |c| {
        gateway_node(c);
        // Kernels start where the request arrives, so the one below runs on n1.
        c.cluster.kernel_placement = KernelPlacement::Local;
        c.operations.monitor_interval = Duration::from_millis(200);
    })
    .await
    else {
        return;
    };
    let (n1, n2) = (&cluster.nodes[0], &cluster.nodes[1]);
    // Starting a kernel goes to n1; everything else (the kernel's model, its channels,
    // interrupt, restart, shutdown, the list) to n2, which must forward it to n1.
    let proxy = Haproxy::start_with(|| {
        format!(
            "    acl start method POST\n    acl kernels path /api/kernels\n\
             \x20   use_backend first if start kernels\n    default_backend second\n{}{}",
            backend("first", &[n1]),
            backend("second", &[n2])
        )
    })
    .await;
    // jupyter_server signs in by itself, with the token renewer from contrib/jupyter.
    let token = n1.signup("gateway.cluster").await;
    let jupyter = JupyterServer::gateway(
        &format!("http://127.0.0.1:{}", proxy.port),
        GatewayAuth::Renewer("gateway.cluster"),
    )
    .await;
    let out = jupyter.lab_client("quick").await;
    let id = out["id"].as_str().unwrap();
    assert!(
        KernelId::parse(id).is_some_and(|k| k.home().is("n1")),
        "started through n1, so it runs there: {out}"
    );
    assert_eq!(out["answer"], "42\n", "{out}");
    assert_eq!(out["state"], "42\n", "{out}");
    assert!(connected(&out["model"]), "{out}");
    assert_eq!(out["left"], 0, "{out}");
    eventually("the kernel to be gone on n1", PATIENCE, || async {
        let left = kernels_on(n1, &token).await;
        holds(left.is_empty(), json!(left))
    })
    .await;
}

/// What a Jupyter Server in gateway mode asks besides kernels: one kernelspec by name, its
/// logos, and the header forms its `auth_scheme` setting makes.
#[tokio::test]
async fn kernelspecs_one_by_one_and_their_logos_and_every_auth_header_form() {
    let app = spawn_app_with(gateway_node).await;
    let token = app.signup("specs").await;
    let get = |path: &str, auth: Option<String>| {
        let req = app.http.get(format!("http://{}{path}", app.addr));
        match auth {
            Some(value) => req.header("authorization", value),
            None => req,
        }
        .send()
    };
    for form in [
        format!("token {token}"),
        format!("Bearer {token}"),
        format!("bearer {token}"),
        token.clone(),
    ] {
        let resp = get("/api/kernelspecs", Some(form.clone())).await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{form}");
    }
    for refused in [
        format!("Basic {token}"),
        "token".to_owned(),
        "a.b".to_owned(),
    ] {
        let resp = get("/api/kernelspecs", Some(refused.clone()))
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED, "{refused}");
    }
    let auth = Some(format!("token {token}"));

    let resp = get("/api/kernelspecs/python3", auth.clone()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let spec: Value = resp.json().await.unwrap();
    assert_eq!(spec["name"], "python3");
    assert_eq!(spec["spec"]["language"], "python");
    let logo = spec["resources"]["logo-64x64"].as_str().unwrap().to_owned();
    assert_eq!(logo, "/kernelspecs/python3/logo-64x64.png");
    let resp = get("/api/kernelspecs/PYTHON3", auth.clone()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK, "names are read in any case");

    let resp = get("/api/kernelspecs/cobol", auth.clone()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    assert_eq!(
        resp.json::<Value>().await.unwrap()["error"],
        "kernelspec_not_found"
    );

    let resp = get(&logo, auth.clone()).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/png");
    assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
    assert!(
        resp.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("sandbox")
    );
    assert!(resp.bytes().await.unwrap().starts_with(b"\x89PNG"));
    let resp = get("/kernelspecs/python3/logo-svg.svg", auth.clone())
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "image/svg+xml");

    // Starting an unknown kernelspec: 404 with the JSON error.
    let resp = app
        .http
        .post(format!("http://{}/api/kernels", app.addr))
        .header("authorization", format!("token {token}"))
        .json(&json!({"name": "cobol", "env": {"KERNEL_USERNAME": "ana"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::NOT_FOUND);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "kernelspec_not_found", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("cobol"),
        "{body}"
    );
}

/// `env` on start: allowed variables reach the kernel, others are left out, and none
/// replaces what the node sets, even when the allow-list names it.
#[tokio::test]
async fn env_on_start_sets_allowed_variables_and_never_the_nodes_own() {
    let app = spawn_app_with(|c| {
        gateway_node(c);
        c.kernels.kernel_env_allowed = vec!["KERNEL_*".into(), "HOME".into(), "PATH".into()];
    })
    .await;
    let token = app.signup("env").await;
    let resp = app
        .http
        .post(format!("http://{}/api/kernels", app.addr))
        .header("authorization", format!("token {token}"))
        .json(&json!({"name": "python3", "env": {
            "KERNEL_USERNAME": "ana",
            "KERNEL_WORKING_DIR": "/home/ana/notebooks",
            "HOME": "/evil",
            "PATH": "/evil",
            "LD_PRELOAD": "/evil.so",
        }}))
        .timeout(PATIENCE)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let id = resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let code = "import os; e = os.environ; print(e.get('KERNEL_USERNAME'), \
                e.get('KERNEL_WORKING_DIR'), e['HOME'] != '/evil', e['PATH'] != '/evil', \
                e.get('LD_PRELOAD'))";
    let result = crate::kernels::jupyterlab_client(&app, &token, &[&id, code]).await;
    assert_eq!(
        result["stdout"], "ana /home/ana/notebooks True True None\n",
        "{result}"
    );
}
