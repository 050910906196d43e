//! The Jupyter Server kernel API, so existing Jupyter clients (and a Jupyter Server in
//! gateway mode) work unchanged: `/api/kernelspecs[/{name}]`, `/kernelspecs/{name}/{file}`,
//! `/api/kernels[/{id}[/interrupt|/restart|/channels]]`, and the long-poll fallback of the
//! channels socket, `/api/v1/kernels/{id}/messages`.
//!
//! Every route needs a signed-in user (`Authorization: token|Bearer …`, the session cookie or
//! `?token=`); a user sees the kernels of their own account only, and any other id is 404.

use crate::App;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, ApiWebSocket};
use crate::kernel_proxy::CallerCredentials;
use crate::protocol::ErrorCode;
use crate::protocol::compute::{MessagePoll, MessageSent, MessagesQuery};
use crate::protocol::jupyter::{
    ChannelsQuery, KernelModel, KernelspecList, KernelspecView, StartKernelRequest,
};
use crate::services::compute::KernelChannel;
use crate::websocket;
use axum::Json;
use axum::body::Bytes;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
use std::time::Duration;
use switchboard_kernel::{WireMessage, WsFrame};

/// The subprotocol of Jupyter Server's binary WebSocket framing.
pub const V1_PROTOCOL: &str = "v1.kernel.websocket.jupyter.org";

/// `GET /api/kernelspecs`.
pub(super) async fn kernelspecs(
    State(app): State<Arc<App>>,
    _caller: CurrentUser,
) -> ApiResult<Json<KernelspecList>> {
    Ok(Json(app.compute.kernelspecs()?))
}

/// `GET /api/kernelspecs/{name}`: one kernelspec, 404 `kernelspec_not_found`.
pub(super) async fn kernelspec(
    State(app): State<Arc<App>>,
    _caller: CurrentUser,
    Path(name): Path<String>,
) -> ApiResult<Json<KernelspecView>> {
    Ok(Json(app.compute.kernelspec(&name)?))
}

/// `GET /kernelspecs/{name}/{file}`: a kernelspec's logo, `kernel.js` or `kernel.css`, as
/// its listing names them. Served so no page of this origin can run what one holds (an SVG
/// logo may carry script): sandboxed, never sniffed.
pub(super) async fn kernelspec_resource(
    State(app): State<Arc<App>>,
    _caller: CurrentUser,
    Path((name, file)): Path<(String, String)>,
) -> ApiResult<Response> {
    let resource = app.compute.kernelspec_resource(&name, &file).await?;
    Ok((
        [
            (header::CONTENT_TYPE, resource.content_type),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; sandbox",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::CACHE_CONTROL, "private, max-age=3600"),
        ],
        resource.bytes,
    )
        .into_response())
}

/// `GET /api/kernels`: the caller's account's kernels, on this node and (in a cluster) on
/// every other live node.
pub(super) async fn list(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    credentials: CallerCredentials,
) -> ApiResult<Json<Vec<KernelModel>>> {
    let list = app
        .compute
        .list_kernels(caller.account_id(), &credentials)
        .await?;
    Ok(Json(list))
}

/// `POST /api/kernels {name?}`: 201 with the kernel model.
pub(super) async fn start(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    credentials: CallerCredentials,
    body: Bytes,
) -> ApiResult<Response> {
    // Jupyter clients send `{"name": …}` (sometimes with more fields) or nothing at all,
    // not always with a JSON content type.
    let request: StartKernelRequest = if body.iter().all(u8::is_ascii_whitespace) {
        StartKernelRequest::default()
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(ErrorCode::MalformedJson, e.to_string()))?
    };
    let model = app
        .compute
        .start_kernel(
            &caller.user,
            request.name.as_deref(),
            request.env.unwrap_or_default(),
            &credentials,
        )
        .await?;
    let location = format!("/api/kernels/{}", model.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(model),
    )
        .into_response())
}

/// `GET /api/kernels/{id}`.
pub(super) async fn get(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<KernelModel>> {
    Ok(Json(app.compute.kernel(caller.account_id(), &id)?))
}

/// `DELETE /api/kernels/{id}`: 204.
pub(super) async fn delete(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.compute.shut_down_kernel(&caller.user, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/kernels/{id}/interrupt`: 204.
pub(super) async fn interrupt(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    app.compute
        .interrupt_kernel(caller.account_id(), &id)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/kernels/{id}/restart`: the kernel model once it is back.
pub(super) async fn restart(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
) -> ApiResult<Json<KernelModel>> {
    Ok(Json(
        app.compute.restart_kernel(caller.account_id(), &id).await?,
    ))
}

/// `GET /api/kernels/{id}/channels`: the WebSocket every Jupyter frontend uses. JSON text
/// messages with a `channel` field (binary frames when a message carries buffers), or with
/// the `v1.kernel.websocket.jupyter.org` subprotocol its binary framing.
pub(super) async fn channels(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<ChannelsQuery>,
    ApiWebSocket(ws): ApiWebSocket,
) -> ApiResult<Response> {
    let channel = app
        .compute
        .open_channel(&caller.user, &id, query.session_id)?;
    let ws = websocket::limited(ws, app.config.kernels.max_kernel_message_bytes)
        .protocols([V1_PROTOCOL]);
    let v1 = ws
        .selected_protocol()
        .is_some_and(|p| p.as_bytes() == V1_PROTOCOL.as_bytes());
    let open = app.gate.admit_websocket()?;
    let right = app.tokens.hold(&caller.claims);
    Ok(ws.on_upgrade(move |socket| async move {
        let _open = open;
        channels_loop(app, channel, v1, right, socket).await;
    }))
}

/// One client's connection: its messages go to the kernel; the kernel's messages for it come
/// back. It closes when the caller's token is revoked or expires, or their user is deleted.
async fn channels_loop(
    app: Arc<App>,
    mut channel: KernelChannel,
    v1: bool,
    right: crate::auth::Right,
    mut socket: WebSocket,
) {
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
                    Some(Err(e)) if websocket::is_too_big(&e) => {
                        let _ = socket.send(Message::Close(Some(websocket::too_big()))).await;
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
                if let Err(e) = channel.send(msg).await {
                    tracing::debug!(error = %e, "cannot send to the kernel");
                    let _ = socket.send(Message::Close(Some(websocket::close(1011, "kernel unavailable")))).await;
                    break;
                }
            }
            outgoing = channel.next() => {
                let Some(msg) = outgoing else {
                    let _ = socket.send(Message::Close(Some(websocket::close(1000, "kernel stopped")))).await;
                    break;
                };
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
                let _ = socket.send(Message::Close(Some(websocket::unauthorized()))).await;
                break;
            }
            () = app.shutdown.cancelled() => {
                let _ = socket.send(Message::Close(Some(websocket::restarting()))).await;
                break;
            }
        }
    }
}

/// `POST /api/v1/kernels/{id}/messages`: the long-poll fallback's way to send; the body is
/// one Jupyter message as the channels socket takes it (JSON with a `channel` field).
pub(super) async fn post_message(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<MessageSent>)> {
    let sent = app.compute.post_message(&caller.user, &id, &body).await?;
    Ok((StatusCode::ACCEPTED, Json(sent)))
}

/// `GET /api/v1/kernels/{id}/messages?after=N&wait=S`: the kernel's numbered messages after
/// `N` (0: everything the replay buffer still holds), waiting up to `S` seconds (capped by
/// `max_long_poll`) for the first one; 401 if the caller's right ends while it waits.
pub(super) async fn poll_messages(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(id): Path<String>,
    ApiQuery(query): ApiQuery<MessagesQuery>,
) -> ApiResult<Json<MessagePoll>> {
    let wait = Duration::from_secs(query.wait.unwrap_or(0));
    let poll = app
        .compute
        .poll_messages(caller.account_id(), &caller.claims, &id, query.after, wait)
        .await?;
    Ok(Json(poll))
}
