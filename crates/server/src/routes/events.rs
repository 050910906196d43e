//! `GET /api/v1/events`: a WebSocket of changes to the caller's account's sessions, so a
//! dashboard updates without polling.

use crate::App;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiWebSocket;
use crate::websocket;
use axum::extract::State;
use axum::extract::ws::{Message, WebSocket};
use axum::response::Response;
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use switchboard_bus::{Delivery, Subscription, subjects};

/// Upgrades to the account events socket.
pub(super) async fn account_events(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    ApiWebSocket(ws): ApiWebSocket,
) -> ApiResult<Response> {
    let events = app
        .bus
        .subscribe(&subjects::account_events(caller.account_id()))
        .await
        .map_err(|e| ApiError::unavailable(e.to_string()))?;
    let open = app.gate.admit_websocket()?;
    let right = app.tokens.hold(&caller.claims);
    Ok(
        websocket::limited(ws, app.config.sessions.max_viewer_message_bytes).on_upgrade(
            move |socket| async move {
                let _open = open;
                events_loop(app, events, right, socket).await;
            },
        ),
    )
}

/// Forwards account events until the client goes away, the caller's right ends or the node
/// stops. A ping every 30 s keeps idle proxies from closing the connection.
async fn events_loop(
    app: Arc<App>,
    mut events: Subscription,
    right: crate::auth::Right,
    mut socket: WebSocket,
) {
    let mut ping = tokio::time::interval(Duration::from_secs(30));
    ping.tick().await;
    let right_ended = right.ended();
    tokio::pin!(right_ended);
    loop {
        tokio::select! {
            delivery = events.next() => match delivery {
                Some(Delivery::Message(payload)) => {
                    let Ok(text) = std::str::from_utf8(&payload) else { continue };
                    if socket.send(Message::Text(text.to_owned().into())).await.is_err() {
                        break;
                    }
                }
                // Events only say "look again"; a client that lagged refetches anyway.
                Some(Delivery::Lagged(_)) => {
                    let resync = serde_json::to_string(&crate::protocol::AccountEvent::Resync)
                        .unwrap_or_default();
                    if socket.send(Message::Text(resync.into())).await.is_err() {
                        break;
                    }
                }
                None => break,
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
            msg = socket.recv() => match msg {
                Some(Err(e)) if websocket::is_too_big(&e) => {
                    let _ = socket.send(Message::Close(Some(websocket::too_big()))).await;
                    break;
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
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
