//! Viewers: the MJPEG stream, the latest frame, and the watch WebSocket.

use crate::App;
use crate::auth::CurrentUser;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiQuery, ApiWebSocket};
use crate::live::{Frame, LiveStatus, SessionHandle, ViewerGuard};
use crate::protocol::{WatchEvent, WatchQuery};
use crate::services::gatekeeper::{Bucket, NodePermit, Place};
use crate::services::viewing::{ViewRoute, Viewing, WatchRecord};
use crate::websocket;
use axum::body::Body;
use axum::extract::ws::{Message, WebSocket};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use futures::StreamExt;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use switchboard_bus::{Delivery, subjects};
use switchboard_core::SessionState;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// `GET /api/v1/sessions/{suid}/frame.jpg`: the newest frame.
pub(super) async fn latest_frame(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(suid): Path<String>,
) -> ApiResult<Response> {
    let frame = app.live.latest_frame(&caller.user, &suid).await?;
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (
                header::HeaderName::from_static("x-frame-seq"),
                HeaderValue::from(frame.seq),
            ),
        ],
        frame.data,
    )
        .into_response())
}

/// What an MJPEG response stream needs between chunks.
struct MjpegStream {
    frames: watch::Receiver<Option<Frame>>,
    status: watch::Receiver<LiveStatus>,
    shutdown: CancellationToken,
    detached: CancellationToken,
    tail: Bytes,
    /// The part headers to send after the current frame.
    pending: Option<Bytes>,
    meters: crate::metrics::ViewerMeters,
    /// The session: its totals count what this viewer was sent.
    session: SessionHandle,
    /// Completes when the right that opened the stream ends: the body ends then.
    right_ended: Pin<Box<dyn Future<Output = ()> + Send>>,
    /// The account's viewer bandwidth on this node: a frame it has no room for is skipped.
    egress: Option<Arc<Bucket>>,
    _right: crate::auth::Right,
    _viewer: ViewerGuard,
    _admitted: Place,
    _record: WatchRecord,
}

/// `GET /api/v1/sessions/{suid}/video.mjpeg`: `multipart/x-mixed-replace` for `<img>`,
/// ffplay and VLC. A slow reader skips frames; it never holds anyone else up. The body ends
/// when the caller's token is revoked or expires, or their user is deleted.
pub(super) async fn mjpeg(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(suid): Path<String>,
) -> ApiResult<Response> {
    let Viewing {
        handle,
        place: viewer,
        admitted,
        egress,
        record,
    } = app
        .live
        .watch(&caller.user, &suid, ViewRoute::Mjpeg)
        .await?;
    let right = app.tokens.hold(&caller.claims);
    let [_, tail] = app.mjpeg.frame(&Bytes::new());
    let state = MjpegStream {
        frames: handle.frames().subscribe(),
        status: handle.subscribe_status(),
        shutdown: app.shutdown.clone(),
        detached: handle.detached().clone(),
        tail,
        pending: Some(app.mjpeg.preamble()),
        meters: crate::metrics::ViewerMeters::new("mjpeg"),
        session: handle.clone(),
        right_ended: Box::pin(right.ended()),
        egress,
        _right: right,
        _viewer: viewer,
        _admitted: admitted,
        _record: record,
    };
    let stream = futures::stream::unfold(state, |mut st| async move {
        if let Some(chunk) = st.pending.take() {
            return Some((Ok::<_, Infallible>(chunk), st));
        }
        loop {
            tokio::select! {
                changed = st.frames.changed() => {
                    if changed.is_err() { return None; }
                    let frame = st.frames.borrow_and_update().clone();
                    if let Some(frame) = frame {
                        if st.egress.as_ref().is_some_and(|b| !b.try_take(frame.data.len())) {
                            continue;
                        }
                        // Advance headers: the next part's headers follow each frame at once.
                        st.pending = Some(st.tail.clone());
                        st.meters.sent(frame.data.len(), frame.received);
                        st.session.stats().sent_jpeg(frame.data.len());
                        return Some((Ok(frame.data), st));
                    }
                }
                changed = st.status.changed() => {
                    if changed.is_err() || st.status.borrow_and_update().state == SessionState::Ended {
                        return None;
                    }
                }
                () = st.shutdown.cancelled() => return None,
                () = &mut st.right_ended => return None,
                // Another node runs the session now: the viewer reconnects to it.
                () = st.detached.cancelled() => return None,
            }
        }
    });
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_str(app.mjpeg.content_type()).map_err(ApiError::internal)?,
            ),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-store, no-cache"),
            ),
            (
                header::HeaderName::from_static("x-accel-buffering"),
                HeaderValue::from_static("no"),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `GET /api/v1/sessions/{suid}/watch`: frames as binary messages, events as JSON text.
pub(super) async fn watch_socket(
    State(app): State<Arc<App>>,
    caller: CurrentUser,
    Path(suid): Path<String>,
    ApiQuery(q): ApiQuery<WatchQuery>,
    ApiWebSocket(ws): ApiWebSocket,
) -> ApiResult<Response> {
    let open = app.gate.admit_websocket()?;
    let watching = if q.frames.unwrap_or(true) {
        Watching::Frames(Box::new(
            app.live
                .watch(&caller.user, &suid, ViewRoute::WatchSocket)
                .await?,
        ))
    } else {
        Watching::EventsOnly(app.live.follow_events(&caller.user, &suid).await?)
    };
    let right = app.tokens.hold(&caller.claims);
    Ok(
        websocket::limited(ws, app.config.sessions.max_viewer_message_bytes)
            .on_upgrade(move |socket| watch_loop(app, watching, open, right, socket)),
    )
}

/// What a watch socket receives: frames as a viewer, or the session's events alone.
enum Watching {
    Frames(Box<Viewing>),
    EventsOnly(crate::live::SessionHandle),
}

async fn send_event(socket: &mut WebSocket, event: &WatchEvent) -> bool {
    match serde_json::to_string(event) {
        Ok(text) => socket.send(Message::Text(text.into())).await.is_ok(),
        Err(_) => true,
    }
}

/// One viewer connection: a loop over new frames, session events, a once-a-second stats
/// tick, the client's messages, the end of the caller's right, and shutdown.
async fn watch_loop(
    app: Arc<App>,
    watching: Watching,
    _open: NodePermit,
    right: crate::auth::Right,
    mut socket: WebSocket,
) {
    let (handle, egress, place) = match watching {
        Watching::Frames(viewing) => {
            let Viewing {
                handle,
                place,
                admitted,
                egress,
                record,
            } = *viewing;
            (handle, egress, Some((place, admitted, record)))
        }
        Watching::EventsOnly(handle) => (handle, None, None),
    };
    // `place` (the viewer's place, admission and audit record) lives as long as the loop.
    let with_frames = place.is_some();
    let suid = handle.suid();
    let mut events = match app.bus.subscribe(&subjects::events(suid)).await {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!(%suid, error = %e, "cannot subscribe to session events");
            let _ = socket
                .send(Message::Close(Some(websocket::try_again())))
                .await;
            return;
        }
    };
    let mut frames = handle.frames().subscribe();
    let mut status = handle.subscribe_status();
    let st = status.borrow_and_update().clone();
    let hello = WatchEvent::Hello {
        suid,
        state: st.state,
        viewers: st.viewers,
    };
    if !send_event(&mut socket, &hello).await {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let meters = crate::metrics::ViewerMeters::new("websocket");
    let right_ended = right.ended();
    tokio::pin!(right_ended);
    loop {
        tokio::select! {
            changed = frames.changed(), if with_frames => {
                if changed.is_err() { break; }
                let frame = frames.borrow_and_update().clone();
                if let Some(frame) = frame {
                    let len = frame.data.len();
                    if egress.as_ref().is_some_and(|b| !b.try_take(len)) {
                        continue;
                    }
                    if socket.send(Message::Binary(frame.data)).await.is_err() {
                        break;
                    }
                    meters.sent(len, frame.received);
                    handle.stats().sent_jpeg(len);
                }
            }
            delivery = events.next() => match delivery {
                Some(Delivery::Message(payload)) => {
                    let Ok(text) = std::str::from_utf8(&payload) else { continue };
                    if socket.send(Message::Text(text.to_owned().into())).await.is_err() { break; }
                }
                Some(Delivery::Lagged(_)) => {}
                None => break,
            },
            _ = tick.tick() => {
                let s = handle.stats();
                let ev = WatchEvent::Stats {
                    fps: (s.fps() * 10.0).round() / 10.0,
                    frames: s.frames(),
                    bytes: s.bytes(),
                    viewers: handle.status().viewers,
                    seq: s.last_seq(),
                };
                if !send_event(&mut socket, &ev).await { break; }
            }
            changed = status.changed() => {
                let st = status.borrow_and_update().clone();
                if changed.is_err() || st.state == SessionState::Ended {
                    let ev = WatchEvent::State { state: SessionState::Ended, reason: st.end_reason };
                    let _ = send_event(&mut socket, &ev).await;
                    let _ = socket.send(Message::Close(Some(websocket::session_ended()))).await;
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
            () = handle.detached().cancelled() => {
                let _ = socket.send(Message::Close(Some(websocket::moved()))).await;
                break;
            }
        }
    }
}
