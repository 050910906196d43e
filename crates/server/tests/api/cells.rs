//! Stored compute cells: storing code with a share link, running it over the channels
//! socket, the files its runs write (collected, announced and served), and bad input.

use crate::helpers::*;
use futures::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// Kernel starts and runs get this long (a cold kernel plus matplotlib's first import).
const KERNEL_PATIENCE: std::time::Duration = std::time::Duration::from_secs(120);

/// A server running kernels, none kept warm, with `tweak` applied.
async fn cell_app(tweak: impl FnOnce(&mut switchboard_server::Config)) -> TestApp {
    spawn_app_with(|c| {
        c.kernels.kernels_enabled = Some(true);
        c.kernels.max_kernels = 4;
        c.kernels.kernel_pool = String::new();
        tweak(c);
    })
    .await
}

/// `POST /api/v1/cells` as `token`.
async fn post_cell(app: &TestApp, token: &str, body: Value) -> reqwest::Response {
    app.http
        .post(app.url("/cells"))
        .bearer_auth(token)
        .json(&body)
        .timeout(KERNEL_PATIENCE)
        .send()
        .await
        .unwrap()
}

async fn get_json(app: &TestApp, path: &str) -> (StatusCode, Value) {
    let resp = app.http.get(app.url(path)).send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap())
}

fn execute_request(msg_id: &str, code: &str) -> Value {
    json!({
        "header": {"msg_id": msg_id, "username": "test", "session": "cell-client",
                   "msg_type": "execute_request", "version": "5.3",
                   "date": "2026-01-01T00:00:00.000Z"},
        "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
        "content": {"code": code, "silent": false, "store_history": true,
                    "user_expressions": {}, "allow_stdin": false, "stop_on_error": true}
    })
}

/// Opens kernel `id`'s channels socket as `token`.
async fn channels(app: &TestApp, token: &str, id: &str) -> Ws {
    let url = format!(
        "ws://{}/api/kernels/{id}/channels?session_id=cell-client",
        app.addr
    );
    let mut req = url.into_client_request().unwrap();
    req.headers_mut()
        .insert("authorization", format!("token {token}").parse().unwrap());
    tokio_tungstenite::connect_async(req).await.unwrap().0
}

/// What one execution produced, in the order the socket delivered it.
#[derive(Debug, Default)]
struct Run {
    /// `(channel, msg_type)` of every message answering the request.
    order: Vec<(String, String)>,
    stderr: String,
    errors: Vec<String>,
    notices: Vec<String>,
    /// The files `display_data`'s content.
    files: Option<Value>,
}

/// Sends `code` and reads until the reply, the idle status and, when `expect_files`, the
/// files `display_data` (or a file notice) have all arrived.
async fn run(ws: &mut Ws, msg_id: &str, code: &str, expect_files: bool) -> Run {
    ws.send(Message::Text(
        execute_request(msg_id, code).to_string().into(),
    ))
    .await
    .unwrap();
    let mut run = Run::default();
    let (mut replied, mut idle) = (false, false);
    let deadline = tokio::time::Instant::now() + KERNEL_PATIENCE;
    while !(replied && idle && (!expect_files || run.files.is_some() || !run.notices.is_empty())) {
        let msg = tokio::time::timeout_at(deadline, ws.next())
            .await
            .expect("the kernel answers in time")
            .unwrap()
            .unwrap();
        let Message::Text(text) = msg else { continue };
        let msg: Value = serde_json::from_str(text.as_str()).unwrap();
        if msg["parent_header"]["msg_id"] != msg_id {
            // An earlier run must not announce files late.
            assert_ne!(msg["header"]["msg_type"], "display_data", "{msg}");
            continue;
        }
        let channel = msg["channel"].as_str().unwrap().to_owned();
        let kind = msg["header"]["msg_type"].as_str().unwrap().to_owned();
        match (channel.as_str(), kind.as_str()) {
            ("shell", "execute_reply") => replied = true,
            ("iopub", "status") if msg["content"]["execution_state"] == "idle" => idle = true,
            ("iopub", "error") => run
                .errors
                .push(msg["content"]["evalue"].as_str().unwrap().to_owned()),
            ("iopub", "stream") if msg["metadata"]["switchboard"]["notice"] == "file_limit" => {
                run.notices
                    .push(msg["content"]["text"].as_str().unwrap().to_owned());
            }
            ("iopub", "stream") if msg["content"]["name"] == "stderr" => {
                run.stderr
                    .push_str(msg["content"]["text"].as_str().unwrap());
            }
            ("iopub", "display_data")
                if msg["content"]["data"]["application/vnd.switchboard.files+json"].is_object() =>
            {
                run.files = Some(msg["content"].clone());
            }
            _ => {}
        }
        run.order.push((channel, kind));
    }
    run
}

#[tokio::test]
async fn a_cell_runs_over_the_channels_socket_and_shares_its_files() {
    let app = cell_app(|_| {}).await;
    let token = app.signup("cellist").await;
    let code = "open('out.txt','w').write('hi')\n\
                import matplotlib\n\
                matplotlib.use('Agg')\n\
                import matplotlib.pyplot as plt\n\
                plt.plot([1, 2, 3])\n\
                plt.savefig('plot.png')\n";

    let resp = post_cell(&app, &token, json!({"code": code})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let cell: Value = resp.json().await.unwrap();
    let id = cell["id"].as_str().unwrap().to_owned();
    let permalink = cell["permalink"].as_str().unwrap().to_owned();
    let kernel_id = cell["kernel_id"].as_str().unwrap().to_owned();
    assert!(uuid::Uuid::parse_str(&id).is_ok(), "{cell}");
    assert!(
        (10..=12).contains(&permalink.len())
            && permalink
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
        "{cell}"
    );
    assert_eq!(cell["url"], format!("/c/{permalink}"));
    assert_eq!(cell["kernel"], "python3");
    assert_eq!(cell["code"], code);
    // Kernel ids are UUIDs that name the node that runs them.
    let parsed = switchboard_server::kernel_id::KernelId::parse(&kernel_id).unwrap();
    assert!(parsed.home().is(&app.config.node_name()), "{kernel_id}");
    assert!(uuid::Uuid::parse_str(&kernel_id).is_ok(), "{kernel_id}");

    // Readable without a token, by id and by permalink.
    let (status, by_id) = get_json(&app, &format!("/cells/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{by_id}");
    let (_, by_link) = get_json(&app, &format!("/cells/{permalink}")).await;
    assert_eq!(by_id, by_link);
    assert_eq!(by_id["code"], code);
    assert_eq!(by_id["created_at"], cell["created_at"]);
    assert_eq!(by_id["files"], json!([]));

    let mut ws = channels(&app, &token, &kernel_id).await;
    let first = run(&mut ws, "run-1", code, true).await;
    assert!(first.errors.is_empty(), "{first:?}");
    let files = first.files.clone().unwrap();
    let listed = &files["data"]["application/vnd.switchboard.files+json"];
    assert_eq!(listed["cell_id"], id);
    let names: Vec<_> = listed["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["out.txt", "plot.png"]);
    assert_eq!(listed["files"][0]["size"], 2);
    assert_eq!(
        listed["files"][0]["url"],
        format!("/api/v1/cells/{id}/files/out.txt")
    );
    let plain = files["data"]["text/plain"].as_str().unwrap();
    assert!(
        plain.starts_with("files: out.txt (2 B), plot.png ("),
        "{plain}"
    );
    let html = files["data"]["text/html"].as_str().unwrap();
    assert!(
        html.starts_with("<ul class=\"sb-files\"><li><a href=\"/api/v1/cells/"),
        "{html}"
    );
    // Published just before the execution's idle status, which ends its output.
    let at = |kind: &str| first.order.iter().position(|(_, k)| k == kind).unwrap();
    let idle = first
        .order
        .iter()
        .rposition(|(c, k)| c == "iopub" && k == "status")
        .unwrap();
    assert_eq!(at("display_data") + 1, idle, "{:?}", first.order);

    // The files, without a token.
    let text = app
        .http
        .get(app.url(&format!("/cells/{permalink}/files/out.txt")))
        .send()
        .await
        .unwrap();
    assert_eq!(text.status(), StatusCode::OK);
    let headers = text.headers().clone();
    assert_eq!(headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["content-security-policy"], "sandbox");
    assert!(
        headers["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("inline")
    );
    assert_eq!(text.text().await.unwrap(), "hi");
    let png = app
        .http
        .get(app.url(&format!("/cells/{id}/files/plot.png")))
        .send()
        .await
        .unwrap();
    assert_eq!(png.status(), StatusCode::OK);
    assert_eq!(png.headers()["content-type"], "image/png");
    assert_eq!(png.headers()["content-security-policy"], "sandbox");
    let bytes = png.bytes().await.unwrap();
    assert!(bytes.starts_with(b"\x89PNG"), "not a PNG");
    assert_eq!(
        Some(bytes.len() as u64),
        listed["files"][1]["size"].as_u64()
    );
    let (status, cell_now) = get_json(&app, &format!("/cells/{id}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cell_now["files"], listed["files"]);

    // User-made HTML is downloaded, never shown in this origin.
    let html_run = run(
        &mut ws,
        "run-2",
        "open('page.html','w').write('<script>alert(1)</script>')",
        true,
    )
    .await;
    let listed = &html_run.files.unwrap()["data"]["application/vnd.switchboard.files+json"];
    // Only what is new or changed since the last run.
    assert_eq!(listed["files"].as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(listed["files"][0]["name"], "page.html");
    let page = app
        .http
        .get(app.url(&format!("/cells/{id}/files/page.html")))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment"),
    );
    assert_eq!(page.headers()["content-security-policy"], "sandbox");

    // Another account cannot use the kernel, but can read the shared cell.
    let stranger = app.signup("stranger").await;
    let hidden = app
        .http
        .get(format!("http://{}/api/kernels/{kernel_id}", app.addr))
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(hidden.status(), StatusCode::NOT_FOUND);
    let shared = app
        .http
        .get(app.url(&format!("/cells/{permalink}")))
        .bearer_auth(&stranger)
        .send()
        .await
        .unwrap();
    assert_eq!(shared.status(), StatusCode::OK);

    // Unknown cells and files.
    for path in [
        "/cells/nosuchcell1".to_owned(),
        format!("/cells/{}", uuid::Uuid::new_v4()),
        "/cells/x".to_owned(),
    ] {
        let (status, body) = get_json(&app, &path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}");
        assert_eq!(body["error"], "cell_not_found", "{path}");
    }
    for name in ["nope.txt", ".hidden", "%2E%2E%2Fetc"] {
        let (status, body) = get_json(&app, &format!("/cells/{id}/files/{name}")).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{name}");
        assert_eq!(body["error"], "file_not_found", "{name}");
    }
}

#[tokio::test]
async fn files_over_a_limit_are_named_in_a_notice() {
    let app = cell_app(|c| {
        c.kernels.cell_file_max_bytes = bytesize::ByteSize::b(100);
        c.kernels.cell_files_max = 2;
    })
    .await;
    let token = app.signup("limited").await;
    let resp = post_cell(&app, &token, json!({"code": "pass", "kernel": "python3"})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let cell: Value = resp.json().await.unwrap();
    let id = cell["id"].as_str().unwrap();
    let mut ws = channels(&app, &token, cell["kernel_id"].as_str().unwrap()).await;

    let code = "import os, pathlib\n\
                open('big.bin','wb').write(b'x' * 500)\n\
                for n in 'abc': open(n + '.txt','w').write(n)\n\
                pathlib.Path('.secret').write_text('s')\n\
                os.mkdir('folder')\n\
                os.symlink('/etc/hostname', 'link.txt')\n";
    let mut first = run(&mut ws, "limits-1", code, true).await;
    // The notice comes before the files, so wait for the files too.
    while first.files.is_none() {
        let more = tokio::time::timeout(KERNEL_PATIENCE, ws.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        let Message::Text(text) = more else { continue };
        let msg: Value = serde_json::from_str(text.as_str()).unwrap();
        if msg["header"]["msg_type"] == "display_data" {
            first.files = Some(msg["content"].clone());
        }
    }
    assert!(first.errors.is_empty(), "{first:?}");
    let notice = first.notices.join("");
    assert!(notice.contains("big.bin"), "{notice}");
    assert!(notice.contains("limit per file"), "{notice}");
    assert!(
        notice.contains("c.txt") && notice.contains("2 files"),
        "{notice}"
    );
    let stored: Vec<_> =
        first.files.unwrap()["data"]["application/vnd.switchboard.files+json"]["files"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["name"].as_str().unwrap().to_owned())
            .collect();
    assert_eq!(stored, ["a.txt", "b.txt"]);
    let (_, cell) = get_json(&app, &format!("/cells/{id}")).await;
    assert_eq!(cell["files"].as_array().unwrap().len(), 2, "{cell}");

    // A run that writes nothing new announces nothing: its next message is the next run's.
    let quiet = run(&mut ws, "limits-2", "x = 1", false).await;
    assert!(
        quiet.files.is_none() && quiet.notices.is_empty(),
        "{quiet:?}"
    );
    let after = run(
        &mut ws,
        "limits-3",
        "open('a.txt','w').write('changed')",
        true,
    )
    .await;
    let listed = &after.files.unwrap()["data"]["application/vnd.switchboard.files+json"];
    assert_eq!(listed["files"][0]["name"], "a.txt");
    assert_eq!(listed["files"][0]["size"], 7);
}

#[tokio::test]
async fn execute_stores_a_cell_with_its_files() {
    let app = cell_app(|_| {}).await;
    let token = app.signup("runner").await;
    let resp = app
        .http
        .post(app.url("/execute"))
        .bearer_auth(&token)
        .json(&json!({"code": "open('result.csv','w').write('a,b\\n1,2\\n'); print('done')"}))
        .timeout(KERNEL_PATIENCE)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["status"], "ok", "{body}");
    let id = body["cell_id"].as_str().unwrap();
    let permalink = body["permalink"].as_str().unwrap();
    assert_eq!(body["url"], format!("/c/{permalink}"));
    assert_eq!(
        body["files"],
        json!([{"name": "result.csv", "size": 8, "url": format!("/api/v1/cells/{id}/files/result.csv")}])
    );
    let (status, cell) = get_json(&app, &format!("/cells/{permalink}")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cell["id"], id);
    assert_eq!(cell["files"], body["files"]);
    let csv = app
        .http
        .get(app.url(&format!("/cells/{id}/files/result.csv")))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.headers()["content-type"], "text/csv; charset=utf-8");
    assert!(
        csv.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment")
    );
    assert_eq!(csv.text().await.unwrap(), "a,b\n1,2\n");
}

#[tokio::test]
async fn bad_cells_are_refused_with_json_errors() {
    let app = cell_app(|c| c.kernels.max_cell_code_bytes = bytesize::ByteSize::kib(1)).await;
    let token = app.signup("careless").await;
    let cases = [
        (
            json!({"code": ""}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"code": "  \n"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"code": "x".repeat(1025)}),
            StatusCode::PAYLOAD_TOO_LARGE,
            "code_too_large",
        ),
        (
            json!({"code": "1", "kernel": "cobol"}),
            StatusCode::NOT_FOUND,
            "kernelspec_not_found",
        ),
        (
            json!({"code": "1", "colour": "red"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
        (
            json!({"kernel": "python3"}),
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid_field",
        ),
    ];
    for (body, status, error) in cases {
        let resp = post_cell(&app, &token, body.clone()).await;
        assert_eq!(resp.status(), status, "{body}");
        let answer: Value = resp.json().await.unwrap();
        assert_eq!(answer["error"], error, "{body}: {answer}");
        assert!(answer["message"].is_string(), "{answer}");
    }
    // Far past every limit: the body limit answers before the body is read.
    let huge = post_cell(&app, &token, json!({"code": "x".repeat(1 << 20)})).await;
    assert_eq!(huge.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(huge.json::<Value>().await.unwrap()["error"].is_string());
    let execute = app
        .http
        .post(app.url("/execute"))
        .bearer_auth(&token)
        .json(&json!({"code": "x".repeat(1025)}))
        .send()
        .await
        .unwrap();
    assert_eq!(execute.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Storing a cell needs a token; nothing was stored by the refused requests.
    let anonymous = app
        .http
        .post(app.url("/cells"))
        .json(&json!({"code": "1"}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
    let kernels: Value = app
        .http
        .get(format!("http://{}/api/kernels", app.addr))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(kernels, json!([]));
}

#[tokio::test]
async fn long_poll_clients_receive_the_files_too() {
    let app = cell_app(|_| {}).await;
    let token = app.signup("poller").await;
    let resp = post_cell(
        &app,
        &token,
        json!({"code": "open('poll.txt','w').write('ok')"}),
    )
    .await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let cell: Value = resp.json().await.unwrap();
    let kernel_id = cell["kernel_id"].as_str().unwrap();
    let messages = app.url(&format!("/kernels/{kernel_id}/messages"));

    let sent = app
        .http
        .post(&messages)
        .bearer_auth(&token)
        .body(execute_request("poll-1", cell["code"].as_str().unwrap()).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(sent.status(), StatusCode::ACCEPTED);
    let mut after = 0;
    let deadline = tokio::time::Instant::now() + KERNEL_PATIENCE;
    let files = loop {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no files display_data"
        );
        let page: Value = app
            .http
            .get(format!("{messages}?after={after}&wait=5"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        after = page["next"].as_u64().unwrap();
        let found = page["messages"].as_array().unwrap().iter().find(|m| {
            m["header"]["msg_type"] == "display_data" && m["parent_header"]["msg_id"] == "poll-1"
        });
        if let Some(msg) = found {
            break msg["content"]["data"]["application/vnd.switchboard.files+json"].clone();
        }
    };
    assert_eq!(files["cell_id"], cell["id"]);
    assert_eq!(files["files"][0]["name"], "poll.txt");
    assert_eq!(files["files"][0]["size"], 2);
}

#[tokio::test]
async fn a_jupyterlab_client_sees_the_files_of_a_run() {
    // @jupyterlab/services stops reading an execution's output at its idle status: the
    // files listing must come before it.
    let app = cell_app(|_| {}).await;
    let token = app.signup("labfiles").await;
    let resp = post_cell(&app, &token, json!({"code": "print(1)"})).await;
    assert_eq!(resp.status(), StatusCode::CREATED);
    let cell: Value = resp.json().await.unwrap();
    let kernel_id = cell["kernel_id"].as_str().unwrap();
    let code = "open('lab.txt','w').write('from lab')\nprint('written')";
    let result = crate::kernels::jupyterlab_client(&app, &token, &[kernel_id, code]).await;
    assert_eq!(result["status"], "ok", "{result}");
    assert_eq!(result["stdout"], "written\n", "{result}");
    assert_eq!(result["files"], json!(["lab.txt"]), "{result}");
}
