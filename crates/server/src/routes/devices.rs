//! Devices: redeeming a ticket, and the device WebSocket (frames up, controls down).

use super::frames::accept_frame;
use super::sockets;
use crate::App;
use crate::auth::{DeviceCaller, TokenKind};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiQuery, ApiWebSocket};
use crate::live::{RateBucket, SessionHandle, now};
use crate::protocol::{DeviceEvent, DeviceRegisterRequest, DeviceRegistered, WatchEvent};
use crate::tls::ClientAddr;
use axum::Json;
use axum::extract::ws::{CloseFrame, Message, WebSocket};
use axum::extract::{ConnectInfo, Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use bytes::Bytes;
use futures::StreamExt;
use serde::Deserialize;
use std::sync::Arc;
use switchboard_bus::{Delivery, subjects};
use switchboard_core::device::{VersionCheck, check_app_version};
use switchboard_core::session::Transition;
use switchboard_core::{DeviceId, SessionState, TicketCode};
use switchboard_store::StoreError;

/// `POST /api/v1/devices/register`: redeem a ticket, get the session id and a device token.
pub(super) async fn register(
    State(app): State<Arc<App>>,
    ConnectInfo(ClientAddr(peer)): ConnectInfo<ClientAddr>,
    headers: axum::http::HeaderMap,
    ApiJson(req): ApiJson<DeviceRegisterRequest>,
) -> ApiResult<(StatusCode, Json<DeviceRegistered>)> {
    let client = app.client_ip(peer, &headers);
    app.limits.ticket(client)?;
    let unknown = || ApiError::not_found("unknown_ticket", "no session has this ticket");
    let ticket = TicketCode::parse(&req.ticket).map_err(|_| unknown())?;
    let session = match app.store.session_by_ticket(&ticket).await {
        Ok(s) => s,
        Err(StoreError::NotFound) => {
            tracing::info!(%client, "unknown ticket");
            return Err(unknown());
        }
        Err(e) => return Err(e.into()),
    };
    let at = now();
    session.check_redeemable(at).map_err(refused)?;
    if let VersionCheck::TooOld { minimum, found } = check_app_version(
        app.min_app_version.as_ref(),
        req.device.app_version.as_deref(),
    ) {
        return Err(ApiError::new(
            StatusCode::UPGRADE_REQUIRED,
            "app_upgrade_required",
            format!(
                "this app ({}) is too old; update it to version {minimum} or later",
                found.as_deref().unwrap_or("no version given")
            ),
        )
        .with_extra(serde_json::json!({ "minimum_app_version": minimum })));
    }
    let handle = super::sessions::running(&app, &session)?;
    let device_id = DeviceId::new();
    match app
        .store
        .mark_live(session.suid, device_id, &req.device, at)
        .await
    {
        Ok(()) => {}
        Err(StoreError::Conflict(_)) => return Err(refused(Transition::TicketUsed)),
        Err(e) => return Err(e.into()),
    }
    handle.device_registered(device_id, req.device, at);
    // The token outlives nothing: it expires when the session must have ended anyway.
    let remaining = (session.created_at
        + chrono::Duration::from_std(app.config.sessions.max_lifetime).unwrap_or_default())
        - at;
    let ttl = remaining.to_std().unwrap_or_default() + std::time::Duration::from_secs(60);
    let (device_token, claims) = app
        .tokens
        .issue(
            TokenKind::Device,
            device_id.to_string(),
            session.account_id.to_string(),
            Some(session.suid.to_string()),
            ttl,
        )
        .map_err(ApiError::internal)?;
    let base = format!("{}/api/v1/sessions/{}", app.public_url(), session.suid);
    let ws_base = base.replacen("http", "ws", 1);
    tracing::info!(suid = %session.suid, %device_id, "device registered");
    Ok((
        StatusCode::CREATED,
        Json(DeviceRegistered {
            suid: session.suid,
            device_id,
            device_token,
            token_expires_at: claims.expires_at(),
            frames_url: format!("{base}/frames"),
            stream_url: format!("{base}/stream"),
            websocket_url: format!("{ws_base}/device"),
            controls_url: format!("{base}/controls"),
            max_frame_bytes: app.config.devices.max_frame_bytes.as_u64(),
        }),
    ))
}

fn refused(t: Transition) -> ApiError {
    match t {
        Transition::TicketUsed => {
            ApiError::gone("ticket_used", "this ticket has already been used")
        }
        Transition::TicketExpired => ApiError::gone("ticket_expired", "this ticket has expired"),
        Transition::Ended => ApiError::session_ended(),
    }
}

/// The device's own session, running, or the reason it cannot stream.
pub(super) async fn device_session(
    app: &App,
    device: &DeviceCaller,
    suid: &str,
) -> ApiResult<SessionHandle> {
    let suid = super::sessions::parse_suid(suid)?;
    device.require_session(suid)?;
    if let Some(h) = app.sessions.get(suid) {
        return if h.is_open() {
            Ok(h)
        } else {
            Err(ApiError::session_ended())
        };
    }
    match app.store.session(suid).await {
        Ok(s) if s.state == SessionState::Ended => Err(ApiError::session_ended()),
        Ok(s) => super::sessions::running(app, &s),
        Err(StoreError::NotFound) => Err(ApiError::session_not_found()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct DeviceSocketQuery {
    /// Deliver controls with an id above this first (what a reconnecting device missed).
    after: Option<i64>,
}

/// `GET /api/v1/sessions/{suid}/device`: the device WebSocket.
pub(super) async fn device_socket(
    State(app): State<Arc<App>>,
    device: DeviceCaller,
    Path(suid): Path<String>,
    ApiQuery(q): ApiQuery<DeviceSocketQuery>,
    ApiWebSocket(ws): ApiWebSocket,
) -> ApiResult<Response> {
    let handle = device_session(&app, &device, &suid).await?;
    // Twice the frame limit: a frame somewhat too large gets a `frame_too_large` error message
    // on the open socket; only absurd ones (which would cost memory) drop the connection.
    let max = usize::try_from(app.config.devices.max_frame_bytes.as_u64())
        .unwrap_or(usize::MAX / 2)
        .saturating_mul(2);
    let after = q.after.unwrap_or(0);
    let right = app.tokens.hold(&device.claims);
    Ok(ws
        .max_message_size(max)
        .max_frame_size(max)
        .on_upgrade(move |socket| device_loop(app, handle, right, socket, after)))
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
                .send(Message::Close(Some(close(1011, "try again"))))
                .await;
            return;
        }
    };
    let mut last_sent = after;
    match app.store.controls_after(suid, after, 1000).await {
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
    let right_ended = right.ended();
    tokio::pin!(right_ended);
    tracing::debug!(%suid, "device connected");
    loop {
        tokio::select! {
            msg = socket.recv() => match msg {
                Some(Ok(Message::Binary(data))) => {
                    if let Err(e) = accept_frame(&app, &handle, None, data) {
                        // Over `max_device_fps`: dropped without a word, as a viewer skips.
                        if e.status == StatusCode::TOO_MANY_REQUESTS {
                            continue;
                        }
                        if e.status == StatusCode::GONE {
                            // The end can reach a frame before the status change below: say
                            // why here too, so the device does not reconnect to learn it.
                            let reason = handle.status().end_reason;
                            let _ = send_json(&mut socket, &DeviceEvent::Ended { reason }).await;
                            let _ = socket.send(Message::Close(Some(close(1000, "session ended")))).await;
                            break;
                        }
                        let ev = DeviceEvent::Error { error: e.code.to_owned(), message: e.message };
                        if !send_json(&mut socket, &ev).await { break; }
                    }
                }
                Some(Ok(Message::Text(text))) => {
                    if text.len() > max_text {
                        tracing::info!(%suid, bytes = text.len(), "device text message too big; closing");
                        let _ = socket.send(Message::Close(Some(sockets::too_big()))).await;
                        break;
                    }
                    if !text_rate.take(app.config.devices.device_messages_per_second, std::time::Instant::now()) {
                        tracing::info!(%suid, "device over its message rate; closing");
                        let _ = socket.send(Message::Close(Some(sockets::too_many()))).await;
                        break;
                    }
                    let status = serde_json::from_str::<serde_json::Value>(&text)
                        .unwrap_or_else(|_| serde_json::Value::String(text.to_string()));
                    let ev = WatchEvent::Device { status };
                    if let Ok(payload) = serde_json::to_vec(&ev) {
                        let _ = app.bus.publish(&subjects::events(suid), Bytes::from(payload)).await;
                    }
                }
                Some(Err(e)) if sockets::is_too_big(&e) => {
                    let _ = socket.send(Message::Close(Some(sockets::too_big()))).await;
                    break;
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            delivery = controls.next() => match delivery {
                // The bus only says "look": controls stored concurrently may be announced out
                // of id order, so read everything after the cursor from the store, in order.
                Some(Delivery::Message(_) | Delivery::Lagged(_)) => {
                    match app.store.controls_after(suid, last_sent, 1000).await {
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
                    let _ = socket.send(Message::Close(Some(close(1000, "session ended")))).await;
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
            () = handle.detached().cancelled() => {
                let _ = socket.send(Message::Close(Some(close(1012, "session moved to another node")))).await;
                break;
            }
        }
    }
    tracing::debug!(%suid, "device disconnected");
}

pub(super) fn close(code: u16, reason: &'static str) -> CloseFrame {
    CloseFrame {
        code,
        reason: reason.into(),
    }
}
