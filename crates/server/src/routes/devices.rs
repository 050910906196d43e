//! Devices: redeeming a ticket, and the device WebSocket (frames up, controls down).

use crate::App;
use crate::auth::DeviceCaller;
use crate::error::ApiResult;
use crate::extract::{ApiJson, ApiQuery, ApiWebSocket};
use crate::live::{RateBucket, SessionHandle};
use crate::protocol::{
    DeviceEvent, DeviceRegisterRequest, DeviceRegistered, DeviceSocketQuery, WatchEvent,
};
use crate::services::gatekeeper;
use crate::services::{ServiceError, SessionError};
use crate::tls::ClientAddr;
use crate::websocket;
use axum::Json;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use std::sync::Arc;
use switchboard_bus::{Delivery, subjects};
use switchboard_core::SessionState;

/// `POST /api/v1/devices/register`: redeem a ticket, get the session id and a device token.
pub(super) async fn register(
    State(app): State<Arc<App>>,
    ConnectInfo(ClientAddr(peer)): ConnectInfo<ClientAddr>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<DeviceRegisterRequest>,
) -> ApiResult<(StatusCode, Json<DeviceRegistered>)> {
    let client = app.client_ip(peer, &headers);
    app.limits.ticket(client)?;
    match app.live.redeem(&req.ticket, req.device).await {
        Ok(registered) => Ok((StatusCode::CREATED, Json(registered))),
        Err(e) => {
            if matches!(e, SessionError::UnknownTicket) {
                tracing::info!(%client, "unknown ticket");
            }
            Err(e.into())
        }
    }
}

/// `GET /api/v1/sessions/{suid}/device`: the device WebSocket.
pub(super) async fn device_socket(
    State(app): State<Arc<App>>,
    device: DeviceCaller,
    Path(suid): Path<String>,
    ApiQuery(q): ApiQuery<DeviceSocketQuery>,
    ApiWebSocket(ws): ApiWebSocket,
) -> ApiResult<Response> {
    let handle = app.live.device_session(device.suid, &suid).await?;
    // Twice the frame limit: a frame somewhat too large gets a `frame_too_large` error message
    // on the open socket; only absurd ones (which would cost memory) drop the connection.
    let max = usize::try_from(app.config.devices.max_frame_bytes.as_u64())
        .unwrap_or(usize::MAX / 2)
        .saturating_mul(2);
    let after = q.after.unwrap_or(0);
    let open = app.gate.admit_websocket()?;
    let right = app.tokens.hold(&device.claims);
    Ok(ws
        .max_message_size(max)
        .max_frame_size(max)
        .read_buffer_size(websocket::DEVICE_READ_BUFFER)
        .on_upgrade(move |socket| async move {
            let _open = open;
            device_loop(app, handle, right, socket, after).await;
        }))
}

async fn send_json(socket: &mut WebSocket, value: &impl serde::Serialize) -> bool {
    match serde_json::to_string(value) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => true,
    }
}

/// One device connection: a loop over incoming frames and status messages, controls to
/// deliver, the session's end, the end of the device token's right and the node's shutdown.
async fn device_loop(
    app: Arc<App>,
    handle: SessionHandle,
    right: crate::auth::Right,
    mut socket: WebSocket,
    after: i64,
) {
    let suid = handle.suid();
    // Subscribe before reading stored controls, so none falls between the two.
    let mut controls = match app.bus.subscribe(&subjects::controls(suid)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%suid, error = %e, "cannot subscribe to controls");
            let _ = socket
                .send(Message::Close(Some(websocket::try_again())))
                .await;
            return;
        }
    };
    let mut last_sent = after;
    match app.live.controls_after(suid, after).await {
        Ok(missed) => {
            for c in missed {
                last_sent = c.id;
                if !send_json(&mut socket, &DeviceEvent::control(&c)).await {
                    return;
                }
            }
        }
        Err(e) => tracing::warn!(%suid, error = %e, "cannot read missed controls"),
    }
    let mut status = handle.subscribe_status();
    // Status messages are relayed to every viewer: their size and rate are bounded.
    let max_text =
        usize::try_from(app.config.devices.max_device_text_bytes.as_u64()).unwrap_or(usize::MAX);
    let mut text_rate = RateBucket::default();
    let upload = app.gate.upload_bucket(handle.account_id()).await;
    let right_ended = right.ended();
    tokio::pin!(right_ended);
    tracing::debug!(%suid, "device connected");
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Binary(data))) => {
                    let len = data.len();
                    match app.live.accept_frame(&handle, None, data) {
                        // The next message is read once the account's upload bandwidth
                        // allows: the device is slowed, never refused.
                        Ok(_) => gatekeeper::pace(upload.as_deref(), len).await,
                        // Over `max_device_fps`: dropped without a word, as a viewer skips.
                        Err(SessionError::OverRate { .. }) => {}
                        Err(SessionError::Ended) => {
                            // The end can reach a frame before the status change below: say
                            // why here too, so the device does not reconnect to learn it.
                            let reason = handle.status().end_reason;
                            let _ = send_json(&mut socket, &DeviceEvent::Ended { reason }).await;
                            let _ = socket.send(Message::Close(Some(websocket::session_ended()))).await;
                            break;
                        }
                        Err(e) => {
                            let ev = DeviceEvent::Error { error: e.code().as_str().to_owned(), message: e.message() };
                            if !send_json(&mut socket, &ev).await { break; }
                        }
                    }
                }
                Some(Ok(Message::Text(text))) => {
                    if text.len() > max_text {
                        tracing::info!(%suid, bytes = text.len(), "device text message too big; closing");
                        let _ = socket.send(Message::Close(Some(websocket::too_big()))).await;
                        break;
                    }
                    if !text_rate.take(app.config.devices.device_messages_per_second, std::time::Instant::now()) {
                        tracing::info!(%suid, "device over its message rate; closing");
                        let _ = socket.send(Message::Close(Some(websocket::too_many()))).await;
                        break;
                    }
                    let status = serde_json::from_str::<serde_json::Value>(&text)
                        .unwrap_or_else(|_| serde_json::Value::String(text.to_string()));
                    let ev = WatchEvent::Device { status };
                    if let Ok(payload) = serde_json::to_vec(&ev) {
                        let _ = app.bus.publish(&subjects::events(suid), Bytes::from(payload)).await;
                    }
                }
                Some(Err(e)) if websocket::is_too_big(&e) => {
                    let _ = socket.send(Message::Close(Some(websocket::too_big()))).await;
                    break;
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            delivery = controls.next() => match delivery {
                // The bus only says "look": controls stored concurrently may be announced out
                // of id order, so read everything after the cursor from the store, in order.
                Some(Delivery::Message(_) | Delivery::Lagged(_)) => {
                    match app.live.controls_after(suid, last_sent).await {
                        Ok(missed) => {
                            for c in missed {
                                last_sent = c.id;
                                if !send_json(&mut socket, &DeviceEvent::control(&c)).await { return; }
                            }
                        }
                        Err(e) => tracing::warn!(%suid, error = %e, "cannot read controls"),
                    }
                }
                None => break,
            },
            changed = status.changed() => {
                let st = status.borrow_and_update().clone();
                if changed.is_err() || st.state == SessionState::Ended {
                    let _ = send_json(&mut socket, &DeviceEvent::Ended { reason: st.end_reason }).await;
                    let _ = socket.send(Message::Close(Some(websocket::session_ended()))).await;
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
            () = handle.detached().cancelled() => {
                let _ = socket.send(Message::Close(Some(websocket::moved()))).await;
                break;
            }
        }
    }
    tracing::debug!(%suid, "device disconnected");
}
