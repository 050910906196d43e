//! The Jupyter Server kernel API: kernelspecs, kernel lifecycle, the channels WebSocket,
//! ownership and capacity, against real ipykernel kernels.

use crate::helpers::*;
use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// A server running at most `max` kernels, none kept warm, any account may use all of them
/// (the node's capacity is what these tests reach).
async fn kernel_app(max: usize) -> TestApp {
    spawn_app_with(|c| {
        c.kernels.kernels_enabled = Some(true);
        c.kernels.max_kernels = max;
        c.kernels.kernel_account_share = 1.0;
    })
    .await
}

fn execute_request(msg_id: &str, session: &str, code: &str) -> Value {
    json!({
        "header": {"msg_id": msg_id, "username": "test", "session": session,
                   "msg_type": "execute_request", "version": "5.3",
                   "date": "2026-01-01T00:00:00.000Z"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": false, "store_history": true,
                    "user_expressions": {}, "allow_stdin": false, "stop_on_error": true}
    })
}

#[tokio::test]
async fn kernel_routes_answer_503_when_kernels_are_off() {
    let app = spawn_app().await;
    let token = app.signup("kernelless").await;
    let resp = app
        .http
        .get(format!("http://{}/api/kernelspecs", app.addr))
        .header("authorization", format!("token {token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"], "kernels_unavailable");
    let anonymous = app
        .http
        .get(format!("http://{}/api/kernels", app.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_jupyter_kernel_runs_code_over_the_channels_socket() {
    let app = kernel_app(1).await;
    let base = format!("http://{}/api", app.addr);
    let token = app.signup("jupyter").await;
    let auth = format!("token {token}");

    let specs: Value = app
        .http
        .get(format!("{base}/kernelspecs"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(specs["default"], "python3", "{specs}");
    assert!(specs["kernelspecs"]["python3"].is_object(), "{specs}");

    let resp = app
        .http
        .post(format!("{base}/kernels"))
        .header("authorization", &auth)
        .json(&json!({"name": "python3"}))
        .timeout(std::time::Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    let model: Value = resp.json().await.unwrap();
    let id = model["id"].as_str().unwrap().to_owned();
    assert_eq!(model["name"], "python3");

    // The node's maximum is one kernel: the next launch, by another account whose share is
    // untouched, is refused with a clear 503.
    let other = app.signup("jupyter.neighbour").await;
    let refused = app
        .http
        .post(format!("{base}/kernels"))
        .header("authorization", format!("token {other}"))
        .json(&json!({}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "kernel_capacity"
    );

    let list: Value = app
        .http
        .get(format!("{base}/kernels"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");

    // Another account cannot see it.
    let stranger = app.signup("stranger").await;
    let hidden = app
        .http
        .get(format!("{base}/kernels/{id}"))
        .header("authorization", format!("Bearer {stranger}"))
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);

    let url = format!("ws://{}/api/kernels/{id}/channels?session_id=s1", app.addr);
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", auth.parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    let request = execute_request("m1", "s1", "print(6*7)");
    ws.send(Message::Text(request.to_string().into()))
        .await
        .unwrap();
    let mut stdout = String::new();
    let mut replied = false;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the kernel answers in time")
            .unwrap()
            .unwrap();
        let Message::Text(text) = msg else { continue };
        let msg: Value = serde_json::from_str(text.as_str()).unwrap();
        if msg["parent_header"]["msg_id"] != "m1" {
            continue;
        }
        match (msg["channel"].as_str(), msg["header"]["msg_type"].as_str()) {
            (Some("iopub"), Some("stream")) => {
                stdout.push_str(msg["content"]["text"].as_str().unwrap());
            }
            (Some("shell"), Some("execute_reply")) => {
                assert_eq!(msg["content"]["status"], "ok", "{msg}");
                replied = true;
            }
            (Some("iopub"), Some("status")) if msg["content"]["execution_state"] == "idle" => {
                break;
            }
            _ => {}
        }
    }
    assert_eq!(stdout, "42\n");
    // The reply may come just after the idle status.
    while !replied {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("execute_reply in time")
            .unwrap()
            .unwrap();
        if let Message::Text(text) = msg {
            let msg: Value = serde_json::from_str(text.as_str()).unwrap();
            replied = msg["header"]["msg_type"] == "execute_reply";
        }
    }

    let interrupted = app
        .http
        .post(format!("{base}/kernels/{id}/interrupt"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(interrupted.status(), StatusCode::NO_CONTENT);

    let deleted = app
        .http
        .delete(format!("{base}/kernels/{id}"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), StatusCode::NO_CONTENT);
    let gone = app
        .http
        .get(format!("{base}/kernels/{id}"))
        .header("authorization", &auth)
        .send()
        .await
        .unwrap();
    assert_eq!(gone.status(), StatusCode::NOT_FOUND);
}

/// `@jupyterlab/services`, the client JupyterLab itself uses (npm; not written by us),
/// starts a kernel, runs code over the v1 WebSocket protocol and shuts the kernel down.
/// Runs `execute.js` (a real `@jupyterlab/services` client) against `app` with `args` after
/// the base URL and token; returns the JSON line it prints.
pub(crate) async fn jupyterlab_client(app: &TestApp, token: &str, args: &[&str]) -> Value {
    let base = format!("http://{}", app.addr);
    let all: Vec<&str> = [base.as_str(), token]
        .into_iter()
        .chain(args.iter().copied())
        .collect();
    run_lab_script(
        "execute.js",
        &all,
        std::time::Duration::from_secs(120),
        String::new,
    )
    .await
}

/// Runs the fixture script `script` (a `@jupyterlab/services` client, installed first when
/// missing) with `args`, within `patience`; returns the last JSON line it prints. A failure
/// shows its output and what `context` adds (a server's log).
pub(crate) async fn run_lab_script(
    script: &str,
    args: &[&str],
    patience: std::time::Duration,
    context: impl FnOnce() -> String,
) -> Value {
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/jupyterlab");
    install_jupyterlab_services(&fixture).await;
    let output = tokio::time::timeout(
        patience,
        tokio::process::Command::new("node")
            .arg(fixture.join(script))
            .args(args)
            .env("NODE_PATH", fixture.join("node_modules"))
            .kill_on_drop(true)
            .output(),
    )
    .await
    .expect("the client finishes in time")
    .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "client failed: {stdout}\n{stderr}\n{}",
        context()
    );
    stdout
        .lines()
        .rev()
        .find_map(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no result line: {stdout}\n{stderr}"))
}

/// Installs `@jupyterlab/services` into the fixture when it is not there (scripts/test does
/// it; this makes `cargo test` alone work too).
async fn install_jupyterlab_services(fixture: &std::path::Path) {
    if !fixture.join("node_modules/@jupyterlab/services").exists() {
        let status = tokio::process::Command::new("npm")
            .args(["install", "--no-audit", "--no-fund", "--silent", "--prefix"])
            .arg(fixture)
            .status()
            .await
            .expect("npm runs (install Node.js and npm)");
        assert!(
            status.success(),
            "npm install of @jupyterlab/services failed"
        );
    }
}

#[tokio::test]
async fn jupyterlab_services_runs_code() {
    let app = kernel_app(2).await;
    let token = app.signup("jupyterlab").await;
    let result = jupyterlab_client(&app, &token, &[]).await;
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(result["stdout"], "42\n", "{result}");
    assert_eq!(result["idle"], true, "{result}");
    assert_eq!(result["language"], "python", "{result}");
    assert_eq!(result["kernels"], 1, "{result}");
}

#[tokio::test]
async fn execute_delivers_every_line_in_order() {
    let app = kernel_app(2).await;
    let token = app.signup("executor").await;
    let resp = app
        .http
        .post(app.url("/execute"))
        .bearer_auth(&token)
        .json(&json!({"code": "for i in range(10**4): print(i)", "timeout": 60}))
        .timeout(std::time::Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ok", "{body}");
    assert_eq!(body["idle"], true);
    let stdout: String = body["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["output_type"] == "stream" && o["name"] == "stdout")
        .map(|o| o["text"].as_str().unwrap())
        .collect();
    let expected: String = (0..10_000).map(|i| format!("{i}\n")).collect();
    assert!(
        stdout == expected,
        "{} bytes of stdout, not all 10 000 lines in order",
        stdout.len()
    );

    let error: Value = app
        .http
        .post(app.url("/execute"))
        .bearer_auth(&token)
        .json(&json!({"code": "1/0"}))
        .timeout(std::time::Duration::from_secs(120))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(error["status"], "error", "{error}");
    assert!(
        error["outputs"]
            .as_array()
            .unwrap()
            .iter()
            .any(|o| o["ename"] == "ZeroDivisionError"),
        "{error}"
    );
}

/// Opens the channels socket of kernel `id`.
async fn channels(app: &TestApp, token: &str, id: &str) -> Ws {
    let url = format!(
        "ws://{}/api/kernels/{id}/channels?session_id=c-{id}",
        app.addr
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("token {token}").parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// Starts a kernel for `token`; returns its id.
async fn start_kernel(app: &TestApp, token: &str) -> String {
    let resp = app
        .http
        .post(format!("http://{}/api/kernels", app.addr))
        .header("authorization", format!("token {token}"))
        .json(&json!({"name": "python3"}))
        .timeout(std::time::Duration::from_secs(120))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::CREATED);
    resp.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

/// Sends `code` and reads until the kernel is idle again: (stdout, error names).
/// `on_output` runs at the first output of the request (user code is running by then: an
/// interrupt that came earlier, between `busy` and the code's start, could be lost).
async fn run_on(
    ws: &mut Ws,
    msg_id: &str,
    code: &str,
    on_output: impl AsyncFnOnce(),
) -> (String, Vec<String>) {
    ws.send(Message::Text(
        execute_request(msg_id, "sess", code).to_string().into(),
    ))
    .await
    .unwrap();
    let mut on_output = Some(on_output);
    let (mut stdout, mut errors) = (String::new(), Vec::new());
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the kernel answers in time")
            .unwrap()
            .unwrap();
        let Message::Text(text) = msg else { continue };
        let msg: Value = serde_json::from_str(text.as_str()).unwrap();
        if msg["parent_header"]["msg_id"] != msg_id || msg["channel"] != "iopub" {
            continue;
        }
        match msg["header"]["msg_type"].as_str().unwrap() {
            "stream" => {
                stdout.push_str(msg["content"]["text"].as_str().unwrap());
                if let Some(f) = on_output.take() {
                    f().await;
                }
            }
            "error" => errors.push(msg["content"]["ename"].as_str().unwrap().to_owned()),
            "status" if msg["content"]["execution_state"] == "idle" => break,
            _ => {}
        }
    }
    (stdout, errors)
}

#[tokio::test]
async fn channels_answer_with_the_v1_subprotocol_when_offered() {
    let app = kernel_app(1).await;
    let token = app.signup("v1client").await;
    let id = start_kernel(&app, &token).await;
    let url = format!("ws://{}/api/kernels/{id}/channels", app.addr);
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("token {token}").parse().unwrap());
    req.headers_mut().insert(
        "sec-websocket-protocol",
        "v1.kernel.websocket.jupyter.org".parse().unwrap(),
    );
    let (_ws, resp) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(
        resp.headers()["sec-websocket-protocol"],
        "v1.kernel.websocket.jupyter.org"
    );
}

#[tokio::test]
async fn interrupt_stops_an_endless_loop() {
    let app = kernel_app(2).await;
    let token = app.signup("looper").await;
    let id = start_kernel(&app, &token).await;
    let mut ws = channels(&app, &token, &id).await;
    let (_, errors) = run_on(
        &mut ws,
        "loop",
        "print('looping', flush=True)\nwhile True: pass",
        async || {
            let resp = app
                .http
                .post(format!("http://{}/api/kernels/{id}/interrupt", app.addr))
                .header("authorization", format!("token {token}"))
                .send()
                .await
                .unwrap();
            assert_eq!(resp.status(), StatusCode::NO_CONTENT);
        },
    )
    .await;
    assert_eq!(errors, ["KeyboardInterrupt"]);
    // The kernel still works afterwards.
    let (stdout, _) = run_on(&mut ws, "after", "print('alive')", async || {}).await;
    assert_eq!(stdout, "alive\n");
}

#[tokio::test]
async fn two_users_kernels_share_no_variables() {
    let app = kernel_app(2).await;
    let ana = app.signup("ana-k").await;
    let bob = app.signup("bob-k").await;
    let ana_kernel = start_kernel(&app, &ana).await;
    let bob_kernel = start_kernel(&app, &bob).await;
    let mut ana_ws = channels(&app, &ana, &ana_kernel).await;
    let mut bob_ws = channels(&app, &bob, &bob_kernel).await;
    run_on(&mut ana_ws, "set", "secret = 42", async || {}).await;
    let (own, _) = run_on(&mut ana_ws, "own", "print(secret)", async || {}).await;
    assert_eq!(own, "42\n");
    let (other, _) = run_on(
        &mut bob_ws,
        "peek",
        "print('secret' in globals())",
        async || {},
    )
    .await;
    assert_eq!(other, "False\n");
    // Bob cannot reach Ana's kernel either.
    let url = format!("ws://{}/api/kernels/{ana_kernel}/channels", app.addr);
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("token {bob}").parse().unwrap());
    assert!(tokio_tungstenite::connect_async(req).await.is_err());
}

#[tokio::test]
async fn long_poll_sends_and_reads_numbered_messages() {
    let app = kernel_app(2).await;
    let token = app.signup("poller").await;
    let id = start_kernel(&app, &token).await;
    let sent = app
        .http
        .post(app.url(&format!("/kernels/{id}/messages")))
        .bearer_auth(&token)
        .body(execute_request("p1", "poll-session", "print('polled')").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let (mut after, mut stdout, mut last_seq) = (0, String::new(), 0);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    'poll: while tokio::time::Instant::now() < deadline {
        let page: Value = app
            .http
            .get(app.url(&format!("/kernels/{id}/messages?after={after}&wait=5")))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        after = page["next"].as_u64().unwrap();
        for msg in page["messages"].as_array().unwrap() {
            let seq = msg["seq"].as_u64().unwrap();
            assert!(seq > last_seq, "numbers increase: {seq} after {last_seq}");
            last_seq = seq;
            if msg["parent_header"]["msg_id"] != "p1" {
                continue;
            }
            match msg["header"]["msg_type"].as_str().unwrap() {
                "stream" => stdout.push_str(msg["content"]["text"].as_str().unwrap()),
                "status" if msg["content"]["execution_state"] == "idle" => break 'poll,
                _ => {}
            }
        }
    }
    assert_eq!(stdout, "polled\n");
}

/// A culler in front (Jupyter Server's) reads `last_activity` and `execution_state`: a run
/// keeps the kernel busy, and its end is activity, not only the request that began it.
#[tokio::test]
async fn last_activity_is_the_end_of_a_run_not_its_start() {
    let app = kernel_app(2).await;
    let token = app.signup("culled").await;
    let id = start_kernel(&app, &token).await;
    let model = |app: &TestApp| {
        let req = app
            .http
            .get(format!("http://{}/api/kernels/{id}", app.addr))
            .header("authorization", format!("token {token}"));
        async move { req.send().await.unwrap().json::<Value>().await.unwrap() }
    };
    let sent_at = chrono::Utc::now();
    let sent = app
        .http
        .post(app.url(&format!("/kernels/{id}/messages")))
        .bearer_auth(&token)
        .body(execute_request("c1", "cull-session", "import time; time.sleep(2)").to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    eventually("the run to start", PATIENCE, || async {
        let m = model(&app).await;
        holds(m["execution_state"] == "busy", &m)
    })
    .await;
    let done = eventually("the run to end", PATIENCE, || async {
        let m = model(&app).await;
        holds(m["execution_state"] == "idle", &m).map(|()| m)
    })
    .await;
    let last = chrono::DateTime::parse_from_rfc3339(done["last_activity"].as_str().unwrap())
        .unwrap()
        .to_utc();
    assert!(
        last - sent_at >= chrono::Duration::milliseconds(1900),
        "last activity {last} is not after the two-second run sent at {sent_at}: {done}"
    );
}

#[tokio::test]
async fn a_user_past_their_share_gets_429() {
    let app = spawn_app_with(|c| {
        c.kernels.kernels_enabled = Some(true);
        c.kernels.kernels_per_user = 1;
    })
    .await;
    let token = app.signup("greedy").await;
    start_kernel(&app, &token).await;
    let refused = app
        .http
        .post(format!("http://{}/api/kernels", app.addr))
        .header("authorization", format!("token {token}"))
        .json(&json!({"name": "python3"}))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error"],
        "too_many_kernels"
    );
}
