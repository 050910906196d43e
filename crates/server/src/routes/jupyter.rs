//! The Jupyter Server kernel API, so existing Jupyter clients work unchanged:
//! `/api/kernelspecs`, `/api/kernels[/{id}[/interrupt|/restart|/channels]]`.
//!
//! Every route needs a signed-in user (`Authorization: token|Bearer …`, the session cookie or
//! `?token=`); a user sees the kernels of their own account only, and any other id is 404.

use super::sockets;
use crate::App;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiWebSocket;
use crate::kernels::{KernelEntry, kernel_error};
use axum::Json;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;
use std::collections::HashSet;
use std::sync::Arc;
use switchboard_kernel::{Channel, Delivery, WireMessage, WsFrame};

/// The subprotocol of Jupyter Server's binary WebSocket framing.
pub const V1_PROTOCOL: &str = "v1.kernel.websocket.jupyter.org";

/// `GET /api/kernelspecs`.
pub(super) async fn kernelspecs(
    State(app): State<Arc<App>>,
    _caller: CurrentUser,
) -> ApiResult<Json<Value>> {
    Ok(Json(app.kernels.specs()?.to_api_json()))
}

/// `GET /api/kernels`: the caller's account's kernels, on this node and (in a cluster) on
/// every other live node.
pub(super) async fn list(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
) -> ApiResult<Json<Vec<Value>>> {
    let elsewhere = crate::kernel_proxy::kernels_elsewhere(&app, &headers, &uri);
    // A node without kernels still lists those of the others.
    let mut list: Vec<Value> = match app.kernels.list(caller.account_id()) {
        Ok(here) => here.iter().map(|e| e.model()).collect(),
        Err(e) if app.config.cluster.nats_url.is_none() => return Err(e),
        Err(_) => Vec::new(),
    };
    list.extend(elsewhere.await);
    Ok(Json(list))
}

#[derive(Debug, Default, Deserialize)]
struct StartKernel {
    #[serde(default)]
    name: Option<String>,
}

/// `POST /api/kernels {name?}`: 201 with the kernel model.
pub(super) async fn start(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
    body: Bytes,
) -> ApiResult<Response> {
    // Jupyter clients send `{"name": …}` (sometimes with more fields) or nothing at all.
    let request: StartKernel = if body.iter().all(u8::is_ascii_whitespace) {
        StartKernel::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request("malformed_json", e.to_string()))?
    };
    let elsewhere =
        crate::kernel_proxy::counts_elsewhere(&app, &headers, &uri, caller.user.id).await;
    let entry = app
        .kernels
        .launch_linked(
            caller.user.id,
            caller.account_id(),
            request.name.as_deref(),
            None,
            elsewhere,
        )
        .await?;
    let location = format!("/api/kernels/{}", entry.id());
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(entry.model()),
    )
        .into_response())
}

/// `GET /api/kernels/{id}`.
pub(super) async fn get(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    Ok(Json(app.kernels.get(&id, caller.account_id())?.model()))
}

/// `DELETE /api/kernels/{id}`: 204.
pub(super) async fn delete(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.kernels.remove(&id, caller.account_id()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/kernels/{id}/interrupt`: 204.
pub(super) async fn interrupt(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    let entry = app.kernels.get(&id, caller.account_id())?;
    entry.touch();
    entry.kernel.interrupt().await.map_err(kernel_error)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/kernels/{id}/restart`: the kernel model once it is back.
pub(super) async fn restart(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<Value>> {
    let entry = app.kernels.get(&id, caller.account_id())?;
    entry.touch();
    entry.kernel.restart().await.map_err(kernel_error)?;
    Ok(Json(entry.model()))
}

#[derive(Debug, Deserialize)]
pub(super) struct ChannelsQuery {
    #[serde(default)]
    session_id: Option<String>,
}

/// `GET /api/kernels/{id}/channels`: the WebSocket every Jupyter frontend uses. JSON text
/// messages with a `channel` field (binary frames when a message carries buffers), or with
/// the `v1.kernel.websocket.jupyter.org` subprotocol its binary framing.
pub(super) async fn channels(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
    Query(query): Query<ChannelsQuery>,
    ApiWebSocket(ws): ApiWebSocket,
) -> ApiResult<Response> {
    let entry = app.kernels.get(&id, caller.account_id())?;
    let ws =
        sockets::limited(ws, app.config.kernels.max_kernel_message_bytes).protocols([V1_PROTOCOL]);
    let v1 = ws
        .selected_protocol()
        .is_some_and(|p| p.as_bytes() == V1_PROTOCOL.as_bytes());
    let client = query
        .session_id
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let right = app.tokens.hold(&caller.claims);
    Ok(ws.on_upgrade(move |socket| channels_loop(app, entry, client, v1, right, socket)))
}

/// One client's connection: its messages go to the kernel; the kernel's messages come back,
/// iopub to everyone, shell and stdin replies only to the client whose request they answer.
/// It closes when the caller's token is revoked or expires, or their user is deleted.
async fn channels_loop(
    app: Arc<App>,
    entry: Arc<KernelEntry>,
    client: String,
    v1: bool,
    right: crate::auth::Right,
    mut socket: WebSocket,
) {
    let _open = entry.socket_opened();
    let mut subscription = entry.kernel.subscribe(entry.resume_point(&client));
    // The Jupyter sessions this client speaks as: its `session_id` and every
    // `header.session` it has sent.
    let mut sessions: HashSet<String> = HashSet::from([client.clone()]);
    let right_ended = right.ended();
    tokio::pin!(right_ended);
    loop {
        tokio::select! {
            incoming = socket.recv() => {
                let parsed = match incoming {
                    Some(Ok(Message::Text(text))) => WireMessage::from_ws_text(text.as_str()),
                    Some(Ok(Message::Binary(data))) if v1 => WireMessage::from_ws_v1(&data),
                    Some(Ok(Message::Binary(data))) => WireMessage::from_ws_binary(&data),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Err(e)) if sockets::is_too_big(&e) => {
                        let _ = socket.send(Message::Close(Some(sockets::too_big()))).await;
                        break;
                    }
                    Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                };
                let msg = match parsed {
                    Ok(msg) => msg,
                    Err(e) => {
                        // A bad message is dropped, like Jupyter Server does; the socket stays.
                        tracing::debug!(error = %e, "invalid message on kernel channels");
                        continue;
                    }
                };
                if !msg.session().is_empty() && !sessions.contains(msg.session()) {
                    sessions.insert(msg.session().to_owned());
                }
                entry.touch();
                if msg.msg_type() == "execute_request"
                    && let Some(link) = &entry.cell
                {
                    link.before_execute().await;
                }
                if let Err(e) = entry.kernel.send(msg).await {
                    tracing::debug!(error = %e, "cannot send to the kernel");
                    let _ = socket.send(Message::Close(Some(close(1011, "kernel unavailable")))).await;
                    break;
                }
            }
            delivery = subscription.recv() => {
                let numbered = match delivery {
                    Some(Delivery::Message(n)) => n,
                    Some(Delivery::Missed { from, to }) => {
                        tracing::debug!(from, to, "channels client fell behind; skipping");
                        continue;
                    }
                    None => {
                        let _ = socket.send(Message::Close(Some(close(1000, "kernel stopped")))).await;
                        break;
                    }
                };
                entry.seen(&client, numbered.seq);
                let msg = &numbered.msg;
                if matches!(msg.channel, Channel::Shell | Channel::Stdin)
                    && !msg.parent_session().is_some_and(|s| sessions.contains(s))
                {
                    continue;
                }
                let frame = if v1 {
                    match msg.to_ws_v1() {
                        Ok(bytes) => Message::Binary(bytes.into()),
                        Err(e) => {
                            tracing::debug!(error = %e, "cannot encode a kernel message");
                            continue;
                        }
                    }
                } else {
                    match msg.to_ws() {
                        WsFrame::Text(text) => Message::Text(text.into()),
                        WsFrame::Binary(bytes) => Message::Binary(bytes.into()),
                    }
                };
                if socket.send(frame).await.is_err() {
                    break;
                }
            }
            () = &mut right_ended => {
                let _ = socket.send(Message::Close(Some(sockets::unauthorized()))).await;
                break;
            }
            () = app.shutdown.cancelled() => {
                let _ = socket.send(Message::Close(Some(close(1012, "server restarting")))).await;
                break;
            }
        }
    }
}

fn close(code: u16, reason: &'static str) -> axum::extract::ws::CloseFrame {
    axum::extract::ws::CloseFrame {
        code,
        reason: reason.into(),
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ExecuteRequest {
    code: String,
    #[serde(default)]
    kernel: Option<String>,
    /// Seconds; default 30, at most 600.
    #[serde(default)]
    timeout: Option<f64>,
}

/// `POST /api/v1/execute {code, kernel?, timeout?}`: runs `code` on a fresh kernel (counted
/// like any other, so per-user shares and the node's maximum apply) and answers everything
/// it produced, in order, once it is done; the kernel is shut down afterwards.
pub(super) async fn execute(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    headers: axum::http::HeaderMap,
    uri: axum::http::Uri,
    crate::extract::ApiJson(request): crate::extract::ApiJson<ExecuteRequest>,
) -> ApiResult<Json<Value>> {
    let timeout = request.timeout.unwrap_or(30.0);
    if !(timeout > 0.0 && timeout <= 600.0) {
        return Err(ApiError::unprocessable(
            "invalid_field",
            "timeout must be above 0 and at most 600 seconds",
        ));
    }
    let limits = crate::cells::CellLimits::from_config(&app.config);
    limits.check_code_size(&request.code)?;
    let account = caller.account_id();
    // Every run is stored as a cell, so its code and files can be shared afterwards.
    let link = Arc::new(crate::cells::CellLink::new(uuid::Uuid::new_v4()));
    let elsewhere =
        crate::kernel_proxy::counts_elsewhere(&app, &headers, &uri, caller.user.id).await;
    let entry = app
        .kernels
        .launch_linked(
            caller.user.id,
            account,
            request.kernel.as_deref(),
            Some(Arc::clone(&link)),
            elsewhere,
        )
        .await?;
    let cell = crate::cells::store_cell(
        &*app.store,
        link.id,
        caller.user.id,
        account,
        &entry.kernel.spec().name,
        &request.code,
    )
    .await;
    let options = switchboard_kernel::ExecuteOptions {
        timeout: Some(std::time::Duration::from_secs_f64(timeout)),
        ..Default::default()
    };
    let result = match &cell {
        Ok(_) => run_to_end(&entry, &request.code, options).await,
        Err(_) => Ok(Value::Null),
    };
    let collected =
        crate::cells::collect(&*app.store, &link, entry.kernel.home_dir(), limits).await;
    // The caller does not wait for the kernel to stop.
    let kernels = app.kernels.clone();
    let id = entry.id().to_owned();
    tokio::spawn(async move {
        let _ = kernels.remove(&id, account).await;
    });
    let cell = cell?;
    let mut result = result?;
    let files = app.store.cell_files(cell.id).await?;
    if let Some(obj) = result.as_object_mut() {
        if let Some(Value::Array(outputs)) = obj.get_mut("outputs") {
            for refused in &collected.refused {
                outputs.push(serde_json::json!({
                    "output_type": "notice",
                    "text": format!("[switchboard] file not stored: {refused}"),
                }));
            }
        }
        obj.insert("cell_id".into(), Value::from(cell.id.to_string()));
        obj.insert("permalink".into(), Value::from(cell.permalink.clone()));
        obj.insert("url".into(), Value::from(crate::cells::cell_url(&cell)));
        obj.insert(
            "files".into(),
            files
                .iter()
                .map(|f| crate::cells::file_json(cell.id, f))
                .collect(),
        );
    }
    Ok(Json(result))
}

async fn run_to_end(
    entry: &KernelEntry,
    code: &str,
    options: switchboard_kernel::ExecuteOptions,
) -> ApiResult<Value> {
    use switchboard_kernel::{ExecuteEvent, KernelError};
    let mut execution = entry
        .kernel
        .execute_with(code, options)
        .await
        .map_err(kernel_error)?;
    let mut outputs = Vec::new();
    let mut status = "ok".to_owned();
    let mut execution_count = Value::Null;
    let mut idle = false;
    while let Some(event) = execution.next().await {
        let event = match event {
            Ok(event) => event,
            Err(KernelError::Timeout { .. }) => {
                status = "timeout".into();
                break;
            }
            Err(e) => return Err(kernel_error(e)),
        };
        match event {
            ExecuteEvent::Stream { name, text } => {
                outputs.push(serde_json::json!({"output_type": "stream", "name": name, "text": text}));
            }
            ExecuteEvent::Display { data, metadata, .. } => outputs.push(
                serde_json::json!({"output_type": "display_data", "data": data, "metadata": metadata}),
            ),
            ExecuteEvent::Result {
                execution_count,
                data,
                metadata,
            } => outputs.push(serde_json::json!({
                "output_type": "execute_result", "execution_count": execution_count,
                "data": data, "metadata": metadata,
            })),
            ExecuteEvent::Error {
                ename,
                evalue,
                traceback,
            } => outputs.push(serde_json::json!({
                "output_type": "error", "ename": ename, "evalue": evalue, "traceback": traceback,
            })),
            ExecuteEvent::Notice(text) => {
                outputs.push(serde_json::json!({"output_type": "notice", "text": text}));
            }
            ExecuteEvent::Reply {
                status: s,
                execution_count: n,
                ..
            } => {
                status = s;
                execution_count = n.map_or(Value::Null, Value::from);
            }
            ExecuteEvent::Idle => idle = true,
            _ => {}
        }
    }
    Ok(serde_json::json!({
        "status": status,
        "execution_count": execution_count,
        "outputs": outputs,
        "idle": idle,
    }))
}

/// `POST /api/v1/kernels/{id}/messages`: the long-poll fallback's way to send; the body is
/// one Jupyter message as the channels socket takes it (JSON with a `channel` field).
pub(super) async fn post_message(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Value>)> {
    let entry = app.kernels.get(&id, caller.account_id())?;
    let text = std::str::from_utf8(&body)
        .map_err(|_| ApiError::bad_request("malformed_json", "the body is not UTF-8"))?;
    let msg = WireMessage::from_ws_text(text).map_err(kernel_error)?;
    let msg_id = msg.msg_id().to_owned();
    entry.touch();
    if msg.msg_type() == "execute_request"
        && let Some(link) = &entry.cell
    {
        link.before_execute().await;
    }
    entry.kernel.send(msg).await.map_err(kernel_error)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(serde_json::json!({ "msg_id": msg_id })),
    ))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MessagesQuery {
    #[serde(default)]
    after: u64,
    #[serde(default)]
    wait: Option<u64>,
    #[serde(default)]
    token: Option<String>,
}

/// Most messages one long poll answers.
const MAX_POLLED: usize = 1000;

/// `GET /api/v1/kernels/{id}/messages?after=N&wait=S`: the kernel's numbered messages after
/// `N` (0: everything the replay buffer still holds), waiting up to `S` seconds (capped by
/// `max_long_poll`) for the first one; 401 if the caller's right ends while it waits.
pub(super) async fn poll_messages(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
    crate::extract::ApiQuery(query): crate::extract::ApiQuery<MessagesQuery>,
) -> ApiResult<Json<Value>> {
    let _ = &query.token; // accepted for auth (`?token=`), read by CurrentUser
    let entry = app.kernels.get(&id, caller.account_id())?;
    let wait = std::time::Duration::from_secs(query.wait.unwrap_or(0))
        .min(app.config.sessions.max_long_poll);
    let right = app.tokens.hold(&caller.claims);
    let right_ended = right.ended();
    tokio::pin!(right_ended);
    let mut subscription = entry.kernel.subscribe(Some(query.after));
    let mut messages = Vec::new();
    let mut missed = Value::Null;
    let mut next = query.after;
    let mut first = true;
    while messages.len() < MAX_POLLED {
        let budget = if first {
            wait
        } else {
            std::time::Duration::ZERO
        };
        first = false;
        let delivery = tokio::select! {
            received = tokio::time::timeout(budget, subscription.recv()) => match received {
                Ok(Some(d)) => d,
                Ok(None) | Err(_) => break,
            },
            () = &mut right_ended => return Err(sockets::right_ended()),
        };
        match delivery {
            Delivery::Message(n) => {
                next = n.seq;
                let mut json = n.msg.to_ws_json();
                if let Some(obj) = json.as_object_mut() {
                    obj.insert("seq".into(), Value::from(n.seq));
                }
                messages.push(json);
            }
            Delivery::Missed { from, to } => {
                missed = serde_json::json!({ "from": from, "to": to });
                next = to;
            }
        }
    }
    if !messages.is_empty() {
        entry.touch();
    }
    Ok(Json(serde_json::json!({
        "messages": messages,
        "next": next,
        "missed": missed,
        "state": entry.kernel.state().as_str(),
    })))
}
